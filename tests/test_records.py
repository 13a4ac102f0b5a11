"""Every activation and initialiser record, piece against piece.

A record (nninit_cli/activations.py, nninit_cli/initialisers.py) holds all
that nninit knows about one activation or initialiser.  These tests walk every
record, so a new one is checked the moment it is added: its torch and numpy
functions agree, its gain is torch's, the variance it claims is the variance
its draws have, the flags it names exist and are the ones it reads.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from nninit_cli import registry
from nninit_cli.activations import ActivationRecord
from nninit_cli.catalog import catalog
from nninit_cli.errors import SpecError
from nninit_cli.initialisers import InitialiserRecord
from nninit_cli.model.inits import LayerBase, init_weight
from nninit_cli.model.torchenv import generator
from nninit_cli.specs import NetSpec, net_flags, net_spec, resolve
from nninit_cli.theory import fixed_point_gain, numpy_act

ACTS = list(registry.ACTIVATIONS)
INITS = list(registry.INITS)
CLI_FLAGS = {f.name for f in net_flags()}
SPEC_FIELDS = {f.name for f in dataclasses.fields(NetSpec)}


def net(**flags) -> NetSpec:
    return net_spec(resolve("test", net_flags(), flags))


def test_records_load_without_torch_or_numpy():
    code = (
        "import sys\n"
        "from nninit_cli import registry\n"
        "registry.canonical_act('swish'), registry.torch_gain('tanh'), registry.TORCH_DEFAULT_GAINS\n"
        "print('torch' in sys.modules, 'numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ---------------------------------------------------------------------------
# Activations


@pytest.mark.parametrize("act", ACTS)
def test_activation_torch_and_numpy_functions_agree(act):
    x = np.concatenate([np.linspace(-8, 8, 1601), [-40.0, -20.0, 20.0, 40.0]])
    for slope in (0.01, 0.2):
        want = registry.ACTIVATIONS[act].torch_fn(torch.tensor(x), slope).numpy()
        np.testing.assert_allclose(numpy_act(act, slope)(x), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", ACTS)
def test_activation_gain_is_torchs(act):
    rec = registry.ACTIVATIONS[act]
    if rec.torch_gain_name is None:  # torch must really have none, under any of its names
        for name in (act, *rec.aliases):
            with pytest.raises(ValueError):
                torch.nn.init.calculate_gain(name.replace("-", "_"))
        return
    for slope in (0.01, 0.2):
        param = slope if rec.torch_gain_name == "leaky_relu" else None
        want = torch.nn.init.calculate_gain(rec.torch_gain_name, param)
        assert registry.torch_gain(act, slope) == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("act", ACTS)
def test_activation_saturation_test_matches_its_derivative(act):
    """A saturation test exactly where f is flat in both tails (|f'| < 0.01 at
    +-20), and it flags those tails but not f(0)."""
    rec = registry.ACTIVATIONS[act]
    x = torch.tensor([-20.0, 0.0, 20.0], dtype=torch.float64, requires_grad=True)
    y = rec.torch_fn(x, 0.01)
    y.sum().backward()
    flat_both_ways = bool((x.grad[[0, 2]].abs() < 0.01).all())
    assert rec.saturates == flat_both_ways
    if rec.saturates:
        assert rec.saturated(y.detach()).tolist() == [True, False, True]


@pytest.mark.parametrize("act", ACTS)
def test_activation_reads_exactly_its_flags(act):
    rec = registry.ACTIVATIONS[act]
    assert set(rec.flags) <= CLI_FLAGS
    assert {f.replace("-", "_") for f in rec.flags} <= SPEC_FIELDS
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    moved = not torch.equal(rec.torch_fn(x, 0.01), rec.torch_fn(x, 0.3))
    assert moved == ("negative-slope" in rec.flags)
    assert fixed_point_gain(act, 0.01) > 0  # the quadrature can integrate the numpy function


@pytest.mark.parametrize("act", ACTS)
def test_activation_names_resolve(act):
    rec = registry.ACTIVATIONS[act]
    for spelling in (act, act.upper(), *rec.aliases, *(a.upper().replace("-", "_") for a in rec.aliases)):
        assert registry.canonical_act(spelling) == act
    assert resolve("test", net_flags(), {"act": act.upper()})["act"] == act


# ---------------------------------------------------------------------------
# Initialisers

# the value a flag takes to see whether an initialiser reads it (defaults: see net_flags)
OTHER_VALUE = {
    "value": 0.5,
    "mean": 0.3,
    "std": 0.5,
    "low": -0.5,
    "high": 0.5,
    "fan-mode": "fan_out",
    "sparsity": 0.5,
    "gain": "2.5",
}


@pytest.mark.parametrize("init", INITS)
def test_init_reads_exactly_its_flags(init):
    """Each flag an initialiser names changes its draw; no other one changes
    the draw or the variance it claims."""
    rec = registry.INITS[init]
    assert set(rec.flags) <= CLI_FLAGS and set(rec.flags) <= set(OTHER_VALUE)
    assert {f.replace("-", "_") for f in rec.flags} <= SPEC_FIELDS

    def draw(**flags):
        spec = net(init=init, **flags)
        w = init_weight(torch.empty(40, 60), spec, LayerBase(0, "fc1", (40, 60)))
        return w, spec.gain, rec.variance_gain(spec, 60, 40)

    base = draw()
    for flag, value in OTHER_VALUE.items():
        w, gain, v = draw(**{flag.replace("-", "_"): value})
        if flag in rec.flags:
            assert not torch.equal(w, base[0]), f"--{flag} does not change {init}'s draw"
        else:
            assert torch.equal(w, base[0]) and v == base[2], f"{init} reads --{flag} but does not list it"
            assert gain == base[1]


SHAPES = [(400, 300), (300, 400), (256, 256)]  # (fan_out, fan_in)
VARIANTS = [{}, {"std": 0.3, "sparsity": 0.3, "mean": 0.2, "low": -0.2, "high": 0.7, "value": 0.5}]


@pytest.mark.parametrize("init", INITS)
def test_init_draws_have_the_variance_and_moments_of_its_record(init):
    """fan_in * E[w^2] is the record's variance_gain (where it has one), and
    the sample mean and std are its formula's, over several fan shapes."""
    rec = registry.INITS[init]
    for flags in VARIANTS:
        for fan_out, fan_in in SHAPES:
            spec = net(init=init, fan_mode="fan_out" if fan_in == 300 else "fan_in", **flags)
            base = LayerBase(1, "fc1", (fan_out, fan_in))
            w = init_weight(torch.empty(fan_out, fan_in), spec, base).double()
            se = w.std().item() / math.sqrt(w.numel())  # standard error of the sample mean
            v = rec.variance_gain(spec, fan_in, fan_out)
            if v is not None:
                assert w.mean().item() == pytest.approx(0.0, abs=5 * se + 1e-12)
                assert fan_in * w.pow(2).mean().item() == pytest.approx(v, rel=0.02, abs=1e-12)
            mean, std = rec.weight_moments(spec, fan_in, fan_out)
            if mean is not None:
                assert w.mean().item() == pytest.approx(mean, abs=5 * se + 1e-12)
            if std is not None:
                assert w.std(correction=0).item() == pytest.approx(std, rel=0.02, abs=1e-12)


# What torch's own function draws when no gain is passed: `--gain torch` must
# give the same tensor.  An initialiser that takes a gain adds its reference here.
TORCH_WITHOUT_GAIN = {
    "xavier-uniform": torch.nn.init.xavier_uniform_,
    "xavier-normal": torch.nn.init.xavier_normal_,
    "kaiming-normal": torch.nn.init.kaiming_normal_,
    "kaiming-uniform": torch.nn.init.kaiming_uniform_,
    "orthogonal": torch.nn.init.orthogonal_,
}


def test_every_init_that_takes_a_gain_has_a_torch_reference():
    assert {i for i in INITS if registry.INITS[i].uses_gain} == set(TORCH_WITHOUT_GAIN)


@pytest.mark.parametrize("init", list(TORCH_WITHOUT_GAIN))
def test_init_torch_default_gain_is_torchs(init):
    ours = init_weight(torch.empty(48, 80), net(init=init, gain="torch"), LayerBase(2, "fc1", (48, 80)))
    kind = "uniform" if init.endswith("uniform") else "normal"  # the base stream torch is fed
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # our QR runs on one thread (LAPACK rounds by thread count)
    try:
        theirs = TORCH_WITHOUT_GAIN[init](torch.empty(48, 80), generator=generator(2, f"weights:fc1:{kind}"))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(ours, theirs)
    assert net(init=init, gain="torch").gain == registry.INITS[init].torch_default_gain


@pytest.mark.parametrize("init", INITS)
def test_init_draw_is_in_place_and_fixed_by_the_seed(init):
    spec = net(init=init)
    w = torch.empty(32, 24)
    a = init_weight(w, spec, LayerBase(5, "fc1", (32, 24)))
    assert a.data_ptr() == w.data_ptr()
    torch.manual_seed(123)  # the global RNG must play no part
    b = init_weight(torch.empty(32, 24), spec, LayerBase(5, "fc1", (32, 24)))
    assert torch.equal(a, b)
    if registry.INITS[init].fit_to_data is not None:
        x = torch.randn(64, 24, generator=torch.Generator().manual_seed(0))
        fitted = registry.INITS[init].fit_to_data(a.clone(), None, x)
        assert (x @ fitted.T).double().std(correction=0).item() == pytest.approx(1.0, abs=1e-3)


def _overflows(init: str, key: str, x: float) -> bool:
    """Whether drawing with NetSpec field `key` = x (unchecked) fails or gives inf."""
    spec = dataclasses.replace(net(init=init), **{key: x})
    try:
        w = init_weight(torch.empty(8, 8), spec, LayerBase(0, "fc1", (8, 8)))
    except RuntimeError:  # torch refuses a bound or a fill value beyond float32
        return True
    return not bool(torch.isfinite(w).all())


@pytest.mark.parametrize("init", INITS)
def test_init_value_flags_are_the_ones_range_checked(init):
    """value_flags are the flags whose number goes into the weights as it is:
    with 1e39 the draw overflows float32 for exactly those (among flags whose
    own range lets 1e39 through; --gain is range-checked on its own), and the
    spec refuses such a value naming the flag."""
    rec = registry.INITS[init]
    parsers = {f.name: f.parse for f in net_flags()}
    for flag in rec.flags:
        try:
            parsers[flag](1e39)
        except ValueError:
            continue  # its own range keeps it small
        if flag == "gain":
            continue
        key = flag.replace("-", "_")
        assert _overflows(init, key, -1e39 if flag == "low" else 1e39) == (flag in rec.value_flags), flag
    for flag in rec.value_flags:
        key = flag.replace("-", "_")
        flags = {"init": init, key: 1e39}
        if flag == "low":
            flags["high"] = 2e39
        with pytest.raises(SpecError) as e:
            net(**flags)
        assert e.value.flag == f"--{flag}"


@pytest.mark.parametrize("init", INITS)
def test_init_names_resolve_and_are_listed(init):
    rec = registry.INITS[init]
    for spelling in (init, init.upper().replace("-", "_"), *rec.aliases):
        assert registry.canonical_init(spelling) == init
    listed = {i["name"]: i for i in catalog()["inits"]}[init]
    assert listed["flags"] == [f"--{f}" for f in rec.flags]


# ---------------------------------------------------------------------------
# A record that forgets a piece fails at import


def test_a_record_missing_a_piece_or_contradicting_itself_fails():
    relu = registry.ACTIVATIONS["relu"]
    fields = {f.name: getattr(relu, f.name) for f in dataclasses.fields(ActivationRecord)}
    del fields["numpy_fn"]
    with pytest.raises(TypeError, match="numpy_fn"):
        ActivationRecord(**fields)
    with pytest.raises(ValueError, match="torch_gain"):
        dataclasses.replace(relu, torch_gain=None)
    kaiming = registry.INITS["kaiming-normal"]
    with pytest.raises(ValueError, match="torch_default_gain"):
        dataclasses.replace(kaiming, torch_default_gain=None)
    with pytest.raises(ValueError, match="value_flags"):
        dataclasses.replace(kaiming, value_flags=("mean",))
    fields = {f.name: getattr(kaiming, f.name) for f in dataclasses.fields(InitialiserRecord)}
    del fields["variance_gain"]
    with pytest.raises(TypeError, match="variance_gain"):
        InitialiserRecord(**fields)


def test_a_name_or_alias_claimed_twice_fails():
    swish = dataclasses.replace(registry.ACTIVATIONS["relu"], name="swish2", aliases=("SWISH",))
    with pytest.raises(ValueError, match="'SWISH' is already 'silu'"):
        registry._index([*registry.ACTIVATIONS.values(), swish], "activation")
    with pytest.raises(ValueError, match="lower case"):
        registry._index([dataclasses.replace(registry.INITS["eye"], name="Eye_2")], "initialiser")


# ---------------------------------------------------------------------------
# Adding one: a record, and nothing else, makes it work in every command.
# (The README's development section shows these two records as the recipe.)

MISH = ActivationRecord(  # Misra 2019
    name="mish",
    aliases=(),
    formula="x * tanh(softplus(x))",
    torch_fn=lambda x, slope: torch.nn.functional.mish(x),
    numpy_fn=lambda x, slope: x * np.tanh(np.logaddexp(0.0, x)),
    torch_gain_name=None,  # calculate_gain has no "mish": --gain auto takes the fixed point
    torch_gain=None,
    saturated=None,
    flags=(),
)

LECUN_NORMAL = InitialiserRecord(  # LeCun et al. 1998: N(0, 1 / fan_in)
    name="lecun-normal",
    aliases=("lecun",),
    flags=(),
    value_flags=(),
    std_formula="1 / sqrt(fan_in)",
    torch_default_gain=None,
    draw=lambda w, net, base: w.copy_(base.normal()).div_(math.sqrt(w.shape[1])),
    variance_gain=lambda net, n, m: 1.0,
    moments=None,
    fit_to_data=None,
)


def test_a_new_activation_is_one_record(monkeypatch, cli):
    monkeypatch.setitem(registry.ACTIVATIONS, "mish", MISH)
    # the record's own checks, as the parametrized tests above run them for every record
    test_activation_torch_and_numpy_functions_agree("mish")
    test_activation_gain_is_torchs("mish")
    test_activation_saturation_test_matches_its_derivative("mish")
    test_activation_reads_exactly_its_flags("mish")
    # ...and every surface takes it
    listed = {a["name"]: a for a in cli("list", "--json").json()["activations"]}["mish"]
    assert listed["auto_gain"] == listed["fixed_point_gain"] == fixed_point_gain("mish")
    run = cli(
        "std-trace", "--act", "Mish", "--init", "kaiming-normal", "--layers", "20", "--width", "512", "--json"
    )
    trace = run.json()
    assert trace["config"]["act"] == "mish" and trace["config"]["gain"] == fixed_point_gain("mish")
    for row in trace["layers"]:  # the theory's prediction comes with it (within 9% here)
        assert row["std"] == pytest.approx(row["predicted_std"], rel=0.15)
    curve = cli("activations", "--act", "mish", "--json").json()["acts"][0]
    assert curve["max_derivative"] == pytest.approx(1.0885, abs=1e-3)  # mish' peaks at 1.0885 (x = 1.49)
    assert cli("grad-norms", "--act", "mish", "--layers", "4", "--json").code == 0


def test_a_new_initialiser_is_one_record(monkeypatch, cli):
    monkeypatch.setitem(registry.INITS, "lecun-normal", LECUN_NORMAL)
    test_init_reads_exactly_its_flags("lecun-normal")
    test_init_draws_have_the_variance_and_moments_of_its_record("lecun-normal")
    test_init_draw_is_in_place_and_fixed_by_the_seed("lecun-normal")
    listed = {i["name"]: i for i in cli("list", "--json").json()["inits"]}["lecun-normal"]
    assert listed["std"] == "1 / sqrt(fan_in)" and listed["flags"] == []
    # SELU with LeCun's init is self-normalising (Klambauer et al. 2017): std stays near 1
    trace = cli(
        "std-trace", "--act", "selu", "--init", "lecun", "--layers", "30", "--width", "512", "--json"
    ).json()
    assert trace["config"]["init"] == "lecun-normal" and trace["config"]["gain"] is None
    assert all(row["predicted_std"] == pytest.approx(1.0, abs=0.01) for row in trace["layers"])
    assert trace["final_std"] == pytest.approx(1.0, abs=0.15)
    hist = cli("init-hist", "--init", "lecun-normal", "--json").json()["inits"][0]
    assert hist["std"] == pytest.approx(hist["theory_std"], rel=0.02)
