"""Synthetic data sets, generated from the seed's data stream (no downloads).

`moons` follows the course experiments: 1000 two-moons points with N(0, noise^2)
jitter, shuffled, split 640 train / 160 dev / 200 test, labels shaped [N, 1].
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nninit_cli.errors import SpecError
from nninit_cli.model.torchenv import generator
from nninit_cli.specs import DATA_SIZES


@dataclass(frozen=True)
class Split:
    """Inputs and labels of one split; labels are float [N, 1] for binary tasks."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def to(self, device: torch.device, dtype: torch.dtype) -> Split:
        y = self.y.to(device) if self.y.dtype == torch.int64 else self.y.to(device, dtype)
        return Split(self.x.to(device, dtype), y)


@dataclass(frozen=True)
class Dataset:
    """Three splits and the task: "binary" (labels 0/1 as float [N, 1]),
    "multiclass" (int64 labels [N], `n_classes`) or "regression" (float [N, 1])."""

    name: str
    train: Split
    dev: Split
    test: Split
    task: str = "binary"
    n_classes: int = 2

    @property
    def in_features(self) -> int:
        return self.train.x.shape[1]

    @property
    def out_features(self) -> int:
        return self.n_classes if self.task == "multiclass" else 1


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


# name: (total examples, default train / dev sizes; test is the rest)
SIZES = DATA_SIZES  # (examples in all, train, dev), declared with the flags


def make_linreg(n: int, gen: torch.Generator, features: int = 200, noise: float = 0.01):
    """Seed 001's weight-decay data: y = 0.01 * sum(x) + 0.05 + N(0, noise^2)."""
    X = torch.randn(n, features, generator=gen)
    y = X @ torch.full((features, 1), 0.01) + 0.05
    return X, y + noise * torch.randn(y.shape, generator=gen)


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1797 8x8 handwritten digits scikit-learn ships (read straight from
    its data file: importing sklearn.datasets would cost a second), scaled to [0, 1]."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise SpecError("--dataset", "digits needs scikit-learn (pip install scikit-learn)")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    return torch.from_numpy(table[:, :-1] / 16.0), torch.from_numpy(table[:, -1].astype(np.int64))


IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (stem, f"{stem}.gz", stem.replace("-idx", ".idx"), f"{stem.replace('-idx', '.idx')}.gz"):
        if (folder / name).is_file():
            return folder / name
    raise SpecError("--data-dir", f"{folder}: no {stem} (or {stem}.gz); it needs the four standard IDX files")


N_IDX_CLASSES = 10  # MNIST and Fashion-MNIST: labels 0..9


def load_idx_set(
    folder: Path | None, name: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train x, train y, test x, test y) from the four IDX files in `folder`.

    All four are read and checked before anything is built from them: uint8
    images N x H x W and uint8 labels N in each split, the same N in both
    files of a split, the same H x W in both splits, labels 0..9."""
    from nninit_cli.data.idx import read_idx

    if folder is None:
        raise SpecError("--data-dir", f"{name} is read from local IDX files: give the folder that holds them")
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        raise SpecError("--data-dir", f"{folder}: {what}")
    paths = [_find_idx(folder, stem) for stem in IDX_FILES]
    arrays = [read_idx(path) for path in paths]
    _check_idx_set(paths, arrays, name)

    def x(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.reshape(len(a), -1).astype(np.float32) / 255.0)

    return (
        x(arrays[0]),
        torch.from_numpy(arrays[1].astype(np.int64)),
        x(arrays[2]),
        torch.from_numpy(arrays[3].astype(np.int64)),
    )


def _check_idx_set(paths: list[Path], arrays: list[np.ndarray], name: str) -> None:
    """The four arrays make a data set; else a SpecError naming the file at fault."""
    for path, a, kind in zip(paths, arrays, ("images", "labels") * 2, strict=True):
        if a.dtype != np.uint8:
            raise _bad(path, f"{kind} must be uint8 (IDX type 0x08), this file holds {a.dtype.name}")
        want, layout = (3, "N x H x W") if kind == "images" else (1, "N")
        if a.ndim != want:
            raise _bad(path, f"{kind} must be {want}-D ({layout}), this file is {a.ndim}-D: {_dims(a.shape)}")
    for images, labels in ((0, 1), (2, 3)):
        n, m = len(arrays[images]), len(arrays[labels])
        if n != m:
            raise _bad(paths[labels], f"{m} labels for the {n} images of {paths[images].name}")
        top = int(arrays[labels].max())
        if top >= N_IDX_CLASSES:
            raise _bad(paths[labels], f"label {top} out of range; {name} labels are 0 to {N_IDX_CLASSES - 1}")
    train, test = arrays[0].shape[1:], arrays[2].shape[1:]
    if train != test:
        raise _bad(paths[2], f"images are {_dims(test)}, those of {paths[0].name} {_dims(train)}")


def _bad(path: Path, what: str) -> SpecError:
    return SpecError("--data-dir", f"{path}: {what}")


def _dims(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape))


def load_dataset(
    name: str,
    seed: int,
    n: int | None = None,
    noise: float = 0.2,
    sizes: tuple[int, int] | None = None,
    data_dir: Path | None = None,
) -> Dataset:
    """The data set `name`, drawn (or shuffled) from `seed`'s data stream and split
    into train (sizes[0]), dev (sizes[1]) and test (the rest), in that order.
    MNIST-style sets keep their own test split; train and dev come from their
    training file."""
    total, a, b = SIZES[name]
    n = n or total
    a, b = sizes or (a, b)
    gen = generator(seed, f"data:{name}")
    if name in ("mnist", "fashion-mnist"):
        x, y, xt, yt = load_idx_set(data_dir, name)
        if a + b > len(x):
            raise SpecError("--train-size", f"train + dev must be at most the {len(x)} training images")
        order = torch.randperm(len(x), generator=gen)
        x, y = x[order], y[order]
        train, dev = Split(x[:a], y[:a]), Split(x[a : a + b], y[a : a + b])
        return Dataset(name, train, dev, Split(xt, yt), "multiclass", N_IDX_CLASSES)
    if name == "digits":
        X, y = load_digits()
        order = torch.randperm(len(X), generator=gen)
        X, y = X[order], y[order]
        task, classes = "multiclass", 10
    elif name == "linreg":
        X, y = make_linreg(max(n, a + b + 1), gen)
        task, classes = "regression", 1
    else:
        make = {"moons": make_moons, "circles": make_circles}[name]
        X, y = make(n, noise, gen)
        task, classes = "binary", 2
    if a + b >= len(X):
        raise SpecError("--train-size", f"train + dev must leave test examples: {name} has {len(X)}")
    return Dataset(
        name,
        Split(X[:a], y[:a]),
        Split(X[a : a + b], y[a : a + b]),
        Split(X[a + b :], y[a + b :]),
        task,
        classes,
    )
