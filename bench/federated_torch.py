# PyTorch peer for bench/federated.ts: one federated client's local training of the project's
# small Fashion-MNIST ResNet (bench/torch_resnet.py), plain SGD with momentum, batch B, on
# seeded random images and labels; the first epoch is a warm-up. Prints samples/s as JSON.
#
#   /usr/bin/python3 bench/federated_torch.py [--threads 2] [--batch 32] [--samples 2048] [--epochs 3]
import argparse
import json
import time

import torch
import torch.nn.functional as F

from torch_resnet import Net

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, default=2)
p.add_argument('--batch', type=int, default=32)
p.add_argument('--samples', type=int, default=2048)
p.add_argument('--epochs', type=int, default=3)
p.add_argument('--lr', type=float, default=0.05)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)

net = Net()
net.train()
opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9)
x = torch.rand(a.samples, 1, 28, 28) * 2 - 1
y = torch.randint(0, 10, (a.samples,))
batches = a.samples // a.batch
times = []
for epoch in range(a.epochs):
    order = torch.randperm(a.samples)
    t0 = time.perf_counter()
    for b in range(batches):
        idx = order[b * a.batch:(b + 1) * a.batch]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
    times.append(time.perf_counter() - t0)
steady = sorted(times[1:])[len(times[1:]) // 2]
print(json.dumps({'samplesPerSecond': batches * a.batch / steady, 'epochSeconds': times}))
