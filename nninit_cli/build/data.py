"""Synthetic data sets, generated from the seed's data stream (no downloads).

`moons` follows the course experiments: 1000 two-moons points with N(0, noise^2)
jitter, shuffled, split 640 train / 160 dev / 200 test, labels shaped [N, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from nninit_cli.build.torchenv import generator


@dataclass(frozen=True)
class Split:
    """Inputs and labels of one split; labels are float [N, 1] for binary tasks."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def to(self, device: torch.device, dtype: torch.dtype) -> Split:
        return Split(self.x.to(device, dtype), self.y.to(device, dtype))


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    dev: Split
    test: Split

    @property
    def in_features(self) -> int:
        return self.train.x.shape[1]


def make_moons(n: int, noise: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved half circles: the outer one labelled 0, the inner one 1."""
    n_out = n // 2
    n_in = n - n_out
    t_out = torch.linspace(0, math.pi, n_out)
    t_in = torch.linspace(0, math.pi, n_in)
    x = torch.cat([torch.cos(t_out), 1 - torch.cos(t_in)])
    y = torch.cat([torch.sin(t_out), 0.5 - torch.sin(t_in)])
    X = torch.stack([x, y], dim=1)
    labels = torch.cat([torch.zeros(n_out), torch.ones(n_in)])
    return _shuffle_and_jitter(X, labels, noise, gen)


def make_circles(
    n: int, noise: float, gen: torch.Generator, factor: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two concentric circles: the outer one labelled 0, the inner one (radius
    `factor`) labelled 1."""
    n_out = n // 2
    n_in = n - n_out
    t_out = torch.linspace(0, 2 * math.pi, n_out + 1)[:-1]
    t_in = torch.linspace(0, 2 * math.pi, n_in + 1)[:-1]
    X = torch.cat(
        [
            torch.stack([torch.cos(t_out), torch.sin(t_out)], 1),
            factor * torch.stack([torch.cos(t_in), torch.sin(t_in)], 1),
        ]
    )
    labels = torch.cat([torch.zeros(n_out), torch.ones(n_in)])
    return _shuffle_and_jitter(X, labels, noise, gen)


def _shuffle_and_jitter(
    X: torch.Tensor, labels: torch.Tensor, noise: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(len(X), generator=gen)
    X, labels = X[order], labels[order]
    if noise > 0:
        X = X + noise * torch.randn(X.shape, generator=gen)
    return X, labels.reshape(-1, 1)


def load_dataset(
    name: str, seed: int, n: int = 1000, noise: float = 0.2, sizes: tuple[int, int] = (640, 160)
) -> Dataset:
    """The data set `name`, drawn from `seed`'s data stream and split into
    train (sizes[0]), dev (sizes[1]) and test (the rest), in that order."""
    gen = generator(seed, f"data:{name}")
    make = {"moons": make_moons, "circles": make_circles}[name]
    X, y = make(n, noise, gen)
    a, b = sizes
    return Dataset(
        name, Split(X[:a], y[:a]), Split(X[a : a + b], y[a : a + b]), Split(X[a + b :], y[a + b :])
    )
