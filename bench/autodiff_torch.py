# PyTorch peer for bench/autodiff.ts: the same small ResNet as src/runtime/train/models.ts
# (stem 3x3 conv + BN + ReLU; stages of 16/32/64 channels with one basic block each, the
# later ones stride 2 with a 1x1 conv + BN shortcut; global average pool; linear 64 -> 10),
# trained with AdamW on one synthetic batch; prints images/s as JSON.
#
#   /usr/bin/python3 bench/autodiff_torch.py [--threads 2] [--batch 64] [--steps 60] [--forward-only]
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, default=2)
p.add_argument('--batch', type=int, default=64)
p.add_argument('--steps', type=int, default=60)
p.add_argument('--forward-only', action='store_true', help='time the forward alone (training-mode BatchNorm, no autograd)')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (self.down(x) if self.down is not None else x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.stages = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.stages(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


net = Net()
opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=5e-4)
x = torch.rand(a.batch, 1, 28, 28) * 2 - 1
y = torch.arange(a.batch) * 7 % 10


def step():
    if a.forward_only:
        with torch.no_grad():
            net(x)
        return
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    opt.step()


for _ in range(5):
    step()
t0 = time.perf_counter()
for _ in range(a.steps):
    step()
dt = time.perf_counter() - t0
print(json.dumps({'imagesPerSecond': a.steps * a.batch / dt, 'version': torch.__version__, 'threads': torch.get_num_threads()}))
