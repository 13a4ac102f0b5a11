"""Baseline for bench_grad_norms.py: the course's grad-norm script, written the
way the course writes it (a Model_MLP_L5 class, torch.optim.SGD, a print per
parameter per step, an evaluation on dev after every step).

    python benchmarks/seed_style_grad_norms.py [STEPS]
"""

import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_moons(n_samples=1000, shuffle=True, noise=None):
    n_out = n_samples // 2
    n_in = n_samples - n_out
    outer_x = torch.cos(torch.linspace(0, math.pi, n_out))
    outer_y = torch.sin(torch.linspace(0, math.pi, n_out))
    inner_x = 1 - torch.cos(torch.linspace(0, math.pi, n_in))
    inner_y = 0.5 - torch.sin(torch.linspace(0, math.pi, n_in))
    X = torch.stack([torch.cat([outer_x, inner_x]), torch.cat([outer_y, inner_y])], dim=1)
    y = torch.cat([torch.zeros(n_out), torch.ones(n_in)])
    if shuffle:
        idx = torch.randperm(X.shape[0])
        X, y = X[idx], y[idx]
    if noise is not None:
        X += torch.normal(0.0, noise, X.shape)
    return X, y


class Model_MLP_L5(nn.Module):
    def __init__(self, input_size, output_size):
        super().__init__()
        self.fc1 = nn.Linear(input_size, 3)
        self.fc2 = nn.Linear(3, 3)
        self.fc3 = nn.Linear(3, 3)
        self.fc4 = nn.Linear(3, 3)
        self.fc5 = nn.Linear(3, output_size)
        for m in self.children():
            nn.init.normal_(m.weight, mean=0.0, std=0.01)
            nn.init.constant_(m.bias, 1.0)

    def forward(self, x):
        x = F.sigmoid(self.fc1(x))
        x = F.sigmoid(self.fc2(x))
        x = F.sigmoid(self.fc3(x))
        x = F.sigmoid(self.fc4(x))
        return F.sigmoid(self.fc5(x))


def main(steps: int) -> None:
    torch.manual_seed(111)
    X, y = make_moons(1000, noise=0.2)
    X_train, y_train = X[:640], y[:640].reshape(-1, 1)
    X_dev, y_dev = X[640:800], y[640:800].reshape(-1, 1)
    model = Model_MLP_L5(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(steps):
        loss = F.binary_cross_entropy(model(X_train), y_train)
        loss.backward()
        for name, param in model.named_parameters():
            print(f"Layer: {name}, Gradient Norm: {param.grad.norm(2).item()}")
        optimizer.step()
        optimizer.zero_grad()
        with torch.no_grad():
            acc = ((model(X_dev) >= 0.5).float() == y_dev).float().mean().item()
        print(f"dev accuracy {acc:.5f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
