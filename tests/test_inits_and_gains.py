"""Initialisers and gains against their reference: torch.nn.init and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nninit_cli import registry
from nninit_cli.model.acts import torch_act
from nninit_cli.model.inits import init_weight
from nninit_cli.model.torchenv import generator, stream_seed
from nninit_cli.specs import net_flags, net_spec, resolve
from nninit_cli.theory import fixed_point_gain, numpy_act, weight_variance_gain


def net(**flags):
    return net_spec(resolve("test", net_flags(), flags))


@pytest.mark.parametrize("act", list(registry.ACTIVATIONS))
def test_numpy_and_torch_activations_agree(act):
    x = np.linspace(-8, 8, 1601)
    want = torch_act(act, 0.2)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(numpy_act(act, 0.2)(x), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", [a for a in registry.ACTIVATIONS if registry.torch_gain(a) is not None])
def test_torch_gains_match_calculate_gain(act):
    name = registry.ACTIVATIONS[act].torch_gain_name
    param = 0.2 if name == "leaky_relu" else None
    assert registry.torch_gain(act, 0.2) == pytest.approx(torch.nn.init.calculate_gain(name, param))


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


@pytest.mark.parametrize(
    "flags",
    [
        {"init": "normal", "std": 0.3},
        {"init": "uniform", "low": -0.5, "high": 0.5},
        {"init": "trunc-normal", "std": 0.2},
        {"init": "xavier-uniform", "act": "tanh"},
        {"init": "xavier-normal"},
        {"init": "kaiming-normal", "act": "relu"},
        {"init": "kaiming-uniform", "act": "lrelu", "fan_mode": "fan_out"},
        {"init": "orthogonal", "gain": "1.5"},
        {"init": "sparse", "sparsity": 0.3, "std": 0.1},
        {"init": "default"},
        {"init": "zeros"},
    ],
)
def test_empirical_weight_variance_matches_theory(flags):
    spec = net(**flags)
    fan_out, fan_in = 400, 300
    w = init_weight(torch.empty(fan_out, fan_in), spec, generator(0, "weights")).double()
    v = weight_variance_gain(spec, fan_in, fan_out)
    # zero mean within 5 standard errors
    assert w.mean().item() == pytest.approx(0.0, abs=5 * w.std().item() / w.numel() ** 0.5 + 1e-12)
    assert fan_in * w.pow(2).mean().item() == pytest.approx(v, rel=0.02, abs=1e-12)


@pytest.mark.parametrize("init", list(registry.INITS))
def test_every_init_is_fixed_by_the_seed(init):
    spec = net(init=init, sparsity=0.5)
    a = init_weight(torch.empty(32, 32), spec, generator(5, "weights"))
    torch.manual_seed(123)  # the global RNG must play no part
    b = init_weight(torch.empty(32, 32), spec, generator(5, "weights"))
    assert torch.equal(a, b)
    if init == "sparse":
        assert (a == 0).sum(0).eq(16).all()  # half of every column, as torch's sparse_


def test_stream_seeds_are_stable_and_distinct():
    assert stream_seed(0, "weights") != stream_seed(0, "data")
    assert stream_seed(0, "weights") != stream_seed(1, "weights")
    assert 0 <= stream_seed(2**63 - 1, "weights") < 2**63


def test_registry_and_builders_know_the_same_names():
    for init in registry.INITS:
        init_weight(torch.empty(4, 4), net(init=init), generator(0, "weights"))
    for act in registry.ACTIVATIONS:
        torch_act(act)(torch.zeros(2))
