# PyTorch peer for bench/learn-speed.ts: training a learned bottleneck with the rest of the model
# frozen, as splitc's learnBottleneck does. The same architecture as the project's Fashion-MNIST
# ResNet (bench/torch_resnet.py; weights random: they do not change the time), cut after
# its second stage (32 channels at 14x14); reduce (1x1 conv to K, or 3x3 stride-2 with /s2),
# fake int4 quantisation with straight-through rounding, recover (1x1 conv, or a 2x2 stride-2
# transposed conv), the rest frozen with BatchNorm in inference mode; loss T^2 * KL(teacher ||
# student) at T=2 plus the MSE of the recovered against the original cut tensor; Adam (lr 1e-3);
# teacher logits computed once before training, as splitc does. Prints seconds per epoch as JSON.
#
#   /usr/bin/python3 bench/learn_torch.py [--threads 2] [--batch 32] [--samples 4096] [--epochs 2] [--k 16] [--s2]
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_resnet import Block

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, default=2)
p.add_argument('--batch', type=int, default=32)
p.add_argument('--samples', type=int, default=4096)
p.add_argument('--epochs', type=int, default=2)
p.add_argument('--k', type=int, default=16)
p.add_argument('--s2', action='store_true')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)


stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), Block(16, 16, 1), Block(16, 32, 2))
head_block = Block(32, 64, 2)
fc = nn.Linear(64, 10)


def head(h):
    return fc(torch.flatten(F.adaptive_avg_pool2d(head_block(h), 1), 1))


for m in (stem, head_block, fc):
    m.eval()
    for q in m.parameters():
        q.requires_grad_(False)

if a.s2:
    reduce = nn.Conv2d(32, a.k, 3, 2, 1)
    recover = nn.ConvTranspose2d(a.k, 32, 2, 2)
else:
    reduce = nn.Conv2d(32, a.k, 1)
    recover = nn.Conv2d(a.k, 32, 1)
params = list(reduce.parameters()) + list(recover.parameters())
opt = torch.optim.Adam(params, lr=1e-3)
lo, hi = -4.0, 4.0  # a fixed calibrated range; the arithmetic is what counts
scale = (hi - lo) / 15


def fake_quant(z):
    q = torch.clamp(torch.floor((z - lo) / scale + 0.5), 0, 15) * scale + lo
    return z + (q - z).detach()  # straight-through


x_all = torch.rand(a.samples, 1, 28, 28) * 2 - 1
with torch.no_grad():
    teacher = torch.cat([head(stem(x_all[i:i + 256])) for i in range(0, a.samples, 256)])
T = 2.0


def epoch(order):
    steps = a.samples // a.batch
    for s in range(steps):
        idx = order[s * a.batch:(s + 1) * a.batch]
        x = x_all[idx]
        with torch.no_grad():
            cut = stem(x)  # the edge is frozen: no graph needed below the bottleneck
        rec = recover(fake_quant(reduce(cut)))
        logits = head(rec)
        kd = F.kl_div(F.log_softmax(logits / T, 1), F.softmax(teacher[idx] / T, 1), reduction='batchmean') * T * T
        loss = kd + F.mse_loss(rec, cut)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


g = torch.Generator().manual_seed(1)
epoch(torch.randperm(a.samples, generator=g)[: a.batch * 4])  # warm-up
times = []
for e in range(a.epochs):
    t0 = time.perf_counter()
    epoch(torch.randperm(a.samples, generator=g))
    times.append(time.perf_counter() - t0)
print(json.dumps({'secondsPerEpoch': sorted(times)[len(times) // 2], 'epochs': times, 'version': torch.__version__, 'threads': torch.get_num_threads()}))
