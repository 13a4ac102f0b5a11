"""Config files: flags win, unknown keys and bad values are named, presets validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from nninit_cli.config import presets_dir
from nninit_cli.errors import SpecError
from nninit_cli.specs import (
    activations_spec,
    coord_check_spec,
    gain_spec,
    grad_norms_spec,
    init_compare_spec,
    init_hist_spec,
    jacobian_spec,
    phase_spec,
    std_trace_spec,
    train_spec,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_config_sets_values_and_flags_win(tmp_path):
    path = write(tmp_path, 'act = "tanh"\ninit = "xavier"\nlayers = 7\nbatch_size = 4\n')
    spec = std_trace_spec({"layers": 3}, path)
    assert (spec.net.act, spec.net.init, spec.net.layers, spec.net.batch_size) == (
        "tanh",
        "xavier-uniform",
        3,
        4,
    )


def test_unknown_key_is_named_with_the_valid_ones(tmp_path):
    with pytest.raises(SpecError) as e:
        std_trace_spec({}, write(tmp_path, "layerz = 3\n"))
    assert "unknown key 'layerz'" in str(e.value) and "layers" in str(e.value)


def test_wrong_type_names_the_key(tmp_path):
    with pytest.raises(SpecError) as e:
        std_trace_spec({}, write(tmp_path, 'width = "wide"\n'))
    assert "key 'width'" in str(e.value) and "whole number" in str(e.value)


def test_malformed_toml(tmp_path):
    with pytest.raises(SpecError, match="not valid TOML"):
        std_trace_spec({}, write(tmp_path, "layers = [\n"))


def test_preset_for_another_command_is_refused(tmp_path):
    with pytest.raises(SpecError, match="preset for 'train'"):
        std_trace_spec({}, write(tmp_path, 'command = "train"\n'))
    # named before its keys: a key this command lacks must not hide whose preset it is
    with pytest.raises(SpecError, match="preset for 'train'"):
        std_trace_spec({}, write(tmp_path, 'command = "train"\nepochs = 3\n'))


@pytest.mark.parametrize("path", sorted(presets_dir().glob("*.toml")), ids=lambda p: p.stem)
def test_every_preset_has_a_command_and_description(path):
    import tomllib

    data = tomllib.loads(path.read_text())
    assert data.get("command") and data.get("description")
    builders = {
        "std-trace": std_trace_spec,
        "grad-norms": grad_norms_spec,
        "train": train_spec,
        "init-compare": init_compare_spec,
        "gain": gain_spec,
        "activations": activations_spec,
        "init-hist": init_hist_spec,
        "coord-check": coord_check_spec,
        "phase": phase_spec,
        "jacobian": jacobian_spec,
    }
    builders[data["command"]]({}, path)  # validates every key


def test_a_preset_can_be_named_instead_of_a_path():
    spec = grad_norms_spec({}, Path("dead-relu"))
    assert spec.nets[0].act == "relu" and spec.nets[0].bias == -8.0 and spec.fail_on == ("dead",)
    with pytest.raises(SpecError, match="no such file"):
        grad_norms_spec({}, Path("no-such-preset"))
