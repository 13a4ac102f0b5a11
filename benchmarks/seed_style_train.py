"""Baseline for bench_train.py: the course's RunnerV2_2 loop on the same data and
the same initial weights as `nninit train` (so the results must be equal):
full-batch SGD, sigmoid output with binary cross-entropy, an evaluation on dev
after every epoch, torch.save of the model on every improvement.

    python benchmarks/seed_style_train.py EPOCHS OUT_FOLDER
"""

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from nninit_cli.data.datasets import load_dataset
from nninit_cli.model.builder import build_model
from nninit_cli.specs import train_spec


def accuracy(probs, y):
    return ((probs >= 0.5).float() == y).float().mean().item()


def main(epochs: int, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    spec = train_spec({"epochs": epochs})
    data = load_dataset("moons", 0)
    model = build_model(spec.net, 2, 1, spec.hidden)
    optimizer = torch.optim.SGD(model.parameters(), lr=spec.lr)
    best_score, best_epoch = 0.0, 0
    for epoch in range(epochs):
        model.train()
        probs = torch.sigmoid(model(data.train.x))
        loss = F.binary_cross_entropy(probs, data.train.y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        model.eval()
        with torch.no_grad():
            dev_probs = torch.sigmoid(model(data.dev.x))
            dev_loss = F.binary_cross_entropy(dev_probs, data.dev.y).item()
            dev_score = accuracy(dev_probs, data.dev.y)
        if dev_score > best_score:
            torch.save(model.state_dict(), out / "best_model.pdparams")
            best_score, best_epoch = dev_score, epoch + 1
        if epoch % 50 == 0:
            print(f"[Train] epoch: {epoch}/{epochs}, loss: {loss.item()}, dev loss {dev_loss}")
    print(f"best {best_score} at epoch {best_epoch}")


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
