"""Initialisers and gains against their reference: torch.nn.init and closed forms.

The checks every record must pass (torch against numpy, variance against
draws, flags) are in test_records.py; these are the particular references."""

from __future__ import annotations

import math

import pytest
import torch

from nninit_cli.model.inits import init_weight
from nninit_cli.model.torchenv import generator, stream_seed
from nninit_cli.specs import net_flags, net_spec, resolve
from nninit_cli.theory import fixed_point_gain


def net(**flags):
    return net_spec(resolve("test", net_flags(), flags))


def test_fixed_point_gains():
    assert fixed_point_gain("relu") == pytest.approx(math.sqrt(2), abs=1e-6)
    assert fixed_point_gain("linear") == pytest.approx(1.0, abs=1e-6)
    assert fixed_point_gain("tanh") == pytest.approx(1.593, abs=2e-3)  # the seed's 1.598 +- noise
    assert fixed_point_gain("selu") == pytest.approx(1.0, abs=1e-4)  # selu keeps E[f^2] = 1
    # empirical check against torch for an activation torch has no gain for
    z = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    empirical = 1 / torch.nn.functional.gelu(z).pow(2).mean().sqrt().item()
    assert fixed_point_gain("gelu") == pytest.approx(empirical, rel=3e-3)


def test_gain_modes_resolve():
    assert net(init="kaiming", act="relu").gain == pytest.approx(math.sqrt(2))
    assert net(init="xavier", act="tanh").gain == pytest.approx(5 / 3)
    assert net(init="xavier", act="relu", gain="torch").gain == 1.0
    assert net(init="kaiming", act="tanh", gain="torch").gain == pytest.approx(math.sqrt(2))
    assert net(init="kaiming", act="gelu").gain == pytest.approx(fixed_point_gain("gelu"))
    assert net(init="orthogonal", gain="2.5").gain == 2.5
    assert net(init="normal").gain is None  # normal takes no gain: config says so


def _same_draw(ours, theirs):
    w1, w2 = torch.empty(64, 128), torch.empty(64, 128)
    init_weight(w1, ours, generator(3, "weights"))
    theirs(w2, generator(3, "weights"))
    return torch.equal(w1, w2)


def test_inits_draw_exactly_as_torch_does():
    assert _same_draw(
        net(init="kaiming", gain="torch"), lambda w, g: torch.nn.init.kaiming_normal_(w, generator=g)
    )
    assert _same_draw(
        net(init="kaiming-uniform", gain="torch", fan_mode="fan_out"),
        lambda w, g: torch.nn.init.kaiming_uniform_(w, mode="fan_out", generator=g),
    )
    assert _same_draw(
        net(init="xavier", act="tanh"),
        lambda w, g: torch.nn.init.xavier_uniform_(w, gain=torch.nn.init.calculate_gain("tanh"), generator=g),
    )
    # nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5))
    assert _same_draw(
        net(init="default"), lambda w, g: torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
    )


def test_sparse_zeroes_the_same_count_in_every_column_as_torch():
    w = init_weight(torch.empty(32, 32), net(init="sparse", sparsity=0.5), generator(5, "weights"))
    assert (w == 0).sum(0).eq(16).all()  # ceil(0.5 * 32) of every column, as torch's sparse_
    assert (w != 0).sum().item() == 32 * 16


def test_stream_seeds_are_stable_and_distinct():
    assert stream_seed(0, "weights") != stream_seed(0, "data")
    assert stream_seed(0, "weights") != stream_seed(1, "weights")
    assert 0 <= stream_seed(2**63 - 1, "weights") < 2**63
