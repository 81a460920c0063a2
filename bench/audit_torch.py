# PyTorch peer for bench/audit.ts: the white-box inversion attack's step on the Fashion-MNIST
# ResNet (the architecture of src/runtime/train/models.ts and bench/autodiff_torch.py) with the
# weights read from the same ONNX file (python3-onnx's numpy_helper; every initializer must
# match a parameter or buffer by name, and every parameter must be set). One step, as
# src/audit/whitebox.ts does it: forward to the cut (BatchNorm in eval mode), the feature
# distance relative to |z|^2 per sample (mean over the batch), plus the total variation of x
# (mean squared differences along H and along W) weighted by tv_weight/span^2 decayed by the
# same cosine as the learning rate, backward to the input, torch.optim.Adam on x with the
# cosine learning rate lr*span, clamp to the input range.
#
#   /usr/bin/python3 bench/audit_torch.py --model fixtures/models/fashion_mnist_resnet.onnx --cut Relu_13 \
#       --data DIR --batch 8 [--threads 2] [--steps 200] [--warmup 20] [--lr 0.2] [--tv-weight 0.05] \
#       --lo L --hi H [--out FILE] [--check-steps N --check-out FILE]
#
# DIR holds float32 little-endian files written by bench/audit.ts: x0.bin (the starting points,
# [batch, 1, 28, 28]), probes.bin (the private inputs) and z.bin (what onnxruntime computed at
# the cut for them). The peer attacks z.bin's targets, so both sides solve the same problem; it
# reports how far its own features of the probes are from z.bin. --warmup steps run first
# (from x0, then discarded), then --steps timed steps from x0 with a fresh Adam; the final x
# goes to --out. --check-steps N runs N more steps from x0 (untimed), for comparing with
# splitc's N steps. Prints one JSON line.
import argparse
import json
import math
import os
import time

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--model', required=True)
p.add_argument('--cut', required=True, help='the ReLU node the edge part ends with: Relu_3, Relu_13, Relu_25 or Relu_37')
p.add_argument('--data', required=True)
p.add_argument('--batch', type=int, required=True)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--steps', type=int, default=200)
p.add_argument('--warmup', type=int, default=20)
p.add_argument('--lr', type=float, default=0.2)
p.add_argument('--tv-weight', type=float, default=0.05)
p.add_argument('--lo', type=float, required=True)
p.add_argument('--hi', type=float, required=True)
p.add_argument('--out', help='write the final x of the timed run here')
p.add_argument('--check-steps', type=int, default=0, help='also run this many steps from x0 (the schedule over them) and write x to --check-out')
p.add_argument('--check-out')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.set_num_interop_threads(1)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Module()
            self.down.conv = nn.Conv2d(cin, cout, 1, stride, 0, bias=False)
            self.down.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (self.down.bn(self.down.conv(x)) if self.down is not None else x))


class Stage(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.block1 = Block(cin, cout, stride)

    def forward(self, x):
        return self.block1(x)


class Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


# The edge part ends after the ReLU that closes the stem or a stage (the ONNX node names).
STAGES_BEFORE = {'Relu_3': 0, 'Relu_13': 1, 'Relu_25': 2, 'Relu_37': 3}


class Edge(nn.Module):
    def __init__(self, stages):
        super().__init__()
        self.stem = Stem()
        self.stage1 = Stage(16, 16, 1)
        self.stage2 = Stage(16, 32, 2)
        self.stage3 = Stage(32, 64, 2)
        self.fc = nn.Linear(64, 10)
        self.stages = [self.stage1, self.stage2, self.stage3][:stages]

    def forward(self, x):
        x = self.stem(x)
        for s in self.stages:
            x = s(x)
        return x


graph = onnx.load(a.model).graph
if a.cut not in STAGES_BEFORE or not any(n.name == a.cut and n.op_type == 'Relu' for n in graph.node):
    raise SystemExit(f'unknown cut {a.cut}: one of {", ".join(STAGES_BEFORE)}')
net = Edge(STAGES_BEFORE[a.cut])
weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
state = net.state_dict()
expected = {k for k in state if not k.endswith('num_batches_tracked')}
if set(weights) != expected:
    raise SystemExit(f'ONNX initializers and the PyTorch module differ: only in ONNX {sorted(set(weights) - expected)}, only in PyTorch {sorted(expected - set(weights))}')
for k, v in weights.items():
    if tuple(state[k].shape) != tuple(v.shape):
        raise SystemExit(f'{k}: ONNX {tuple(v.shape)}, PyTorch {tuple(state[k].shape)}')
net.load_state_dict(weights, strict=False)
net.eval()
for q in net.parameters():
    q.requires_grad_(False)


def load(name, shape):
    return torch.from_numpy(np.fromfile(os.path.join(a.data, name), dtype='<f4').reshape(shape))


shape = (a.batch, 1, 28, 28)
x0 = load('x0.bin', shape)
probes = load('probes.bin', shape)
with torch.no_grad():
    mine = net(probes)
z = load('z.bin', tuple(mine.shape))
z_diff = float((mine - z).abs().max())

span = a.hi - a.lo
z_sq = (z * z).flatten(1).sum(1) + 1e-12


def cosine(base, step, total):
    return 0.5 * base * (1 + math.cos(math.pi * min(1.0, step / max(1, total))))


def attack(steps):
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=a.lr * span)
    for step in range(steps):
        opt.param_groups[0]['lr'] = cosine(a.lr * span, step, steps)
        d = (net(x) - z)
        feature = ((d * d).flatten(1).sum(1) / z_sq).mean()
        dh = x[:, :, 1:, :] - x[:, :, :-1, :]
        dw = x[:, :, :, 1:] - x[:, :, :, :-1]
        tv = (dh * dh).mean() + (dw * dw).mean()
        loss = feature + tv * (cosine(a.tv_weight, step, steps) / (span * span))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(a.lo, a.hi)
    return x.detach()


attack(a.warmup)
t0 = time.perf_counter()
x = attack(a.steps)
dt = time.perf_counter() - t0
with torch.no_grad():
    d = net(x) - z
    dist = ((d * d).flatten(1).sum(1) / z_sq).tolist()
if a.out:
    x.numpy().astype('<f4').tofile(a.out)
if a.check_steps > 0 and a.check_out:
    attack(a.check_steps).numpy().astype('<f4').tofile(a.check_out)
print(json.dumps({'stepsPerSecond': a.steps / dt, 'version': torch.__version__, 'threads': torch.get_num_threads(), 'zMaxDiff': z_diff, 'distance': dist}))
