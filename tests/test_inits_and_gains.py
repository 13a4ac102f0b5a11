"""Initialisers and gains against their reference: torch.nn.init and closed forms.

The checks every record must pass (torch against numpy, variance against
draws, flags) are in test_records.py; these are the particular references."""

from __future__ import annotations

import math

import pytest
import torch

from nninit_cli.model.inits import LayerBase, init_weight
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


def _same_draw(ours, theirs, kind: str, shape=(64, 128)) -> bool:
    """Our draw from layer fc1's base against torch's function fed the base's
    own stream (`kind`: normal or uniform)."""
    w1, w2 = torch.empty(shape), torch.empty(shape)
    init_weight(w1, ours, LayerBase(3, "fc1", shape))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # our QR runs on one thread (LAPACK rounds by thread count)
    try:
        theirs(w2, generator(3, f"weights:fc1:{kind}"))
    finally:
        torch.set_num_threads(threads)
    return torch.equal(w1, w2)


@pytest.mark.parametrize("shape", [(64, 128), (128, 64)])
def test_inits_draw_exactly_as_torch_does(shape):
    assert _same_draw(
        net(init="kaiming", gain="torch"),
        lambda w, g: torch.nn.init.kaiming_normal_(w, generator=g),
        "normal",
        shape,
    )
    assert _same_draw(
        net(init="kaiming-uniform", gain="torch", fan_mode="fan_out"),
        lambda w, g: torch.nn.init.kaiming_uniform_(w, mode="fan_out", generator=g),
        "uniform",
        shape,
    )
    assert _same_draw(
        net(init="xavier", act="tanh"),
        lambda w, g: torch.nn.init.xavier_uniform_(w, gain=torch.nn.init.calculate_gain("tanh"), generator=g),
        "uniform",
        shape,
    )
    assert _same_draw(
        net(init="orthogonal", gain="2.5"),
        lambda w, g: torch.nn.init.orthogonal_(w, gain=2.5, generator=g),
        "normal",
        shape,
    )
    assert _same_draw(
        net(init="normal", std=0.3),
        lambda w, g: torch.nn.init.normal_(w, 0.0, 0.3, generator=g),
        "normal",
        shape,
    )
    assert _same_draw(
        net(init="uniform", low=-0.2, high=0.7),
        lambda w, g: torch.nn.init.uniform_(w, -0.2, 0.7, generator=g),
        "uniform",
        shape,
    )
    # nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5))
    assert _same_draw(
        net(init="default"),
        lambda w, g: torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g),
        "uniform",
        shape,
    )


def test_every_init_is_a_transformation_of_its_layers_base():
    """Common random numbers: the normal family is one Gaussian scaled, the
    uniform family one uniform scaled, orthogonal and LSUV one Q."""
    base = LayerBase(7, "fc3", (48, 80))
    draw = {
        i: init_weight(torch.empty(48, 80), net(init=i), base) for i in ("kaiming", "xavier-normal", "normal")
    }
    g = base.normal()
    for w in draw.values():
        ratio = w / g
        assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-6)
    u = base.uniform()
    for i in ("uniform", "xavier-uniform", "kaiming-uniform", "default"):
        w = init_weight(torch.empty(48, 80), net(init=i), base)
        corr = torch.corrcoef(torch.stack([w.flatten(), u.flatten()]))[0, 1].item()
        assert corr == pytest.approx(1.0, abs=1e-6), i
    q = init_weight(torch.empty(48, 80), net(init="orthogonal"), base)
    assert torch.equal(q, init_weight(torch.empty(48, 80), net(init="lsuv"), base))
    assert torch.allclose(q @ q.T, torch.eye(48), atol=1e-5)
    # a layer's numbers depend on its name and seed, not on what was drawn before
    again = init_weight(torch.empty(48, 80), net(init="kaiming"), LayerBase(7, "fc3", (48, 80)))
    assert torch.equal(again, draw["kaiming"])
    other = init_weight(torch.empty(48, 80), net(init="kaiming"), LayerBase(7, "fc4", (48, 80)))
    assert not torch.equal(other, draw["kaiming"])


def test_sparse_zeroes_the_same_count_in_every_column_as_torch():
    w = init_weight(torch.empty(32, 32), net(init="sparse", sparsity=0.5), LayerBase(5, "fc1", (32, 32)))
    assert (w == 0).sum(0).eq(16).all()  # ceil(0.5 * 32) of every column, as torch's sparse_
    assert (w != 0).sum().item() == 32 * 16


def test_stream_seeds_are_stable_and_distinct():
    assert stream_seed(0, "weights") != stream_seed(0, "data")
    assert stream_seed(0, "weights") != stream_seed(1, "weights")
    assert 0 <= stream_seed(2**63 - 1, "weights") < 2**63
