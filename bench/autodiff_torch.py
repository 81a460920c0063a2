# PyTorch peer for bench/autodiff.ts: the same small ResNet as src/runtime/train/models.ts
# (bench/torch_resnet.py), trained with AdamW on one synthetic batch; prints images/s as JSON.
#
#   /usr/bin/python3 bench/autodiff_torch.py [--threads 2] [--batch 64] [--steps 60] [--forward-only]
import argparse
import json
import time

import torch
import torch.nn.functional as F

from torch_resnet import Net

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, default=2)
p.add_argument('--batch', type=int, default=64)
p.add_argument('--steps', type=int, default=60)
p.add_argument('--forward-only', action='store_true', help='time the forward alone (training-mode BatchNorm, no autograd)')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)


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
