"""An installed nninit (wheel or editable) finds its presets from any folder; shell completion.

The install test builds the wheel from a copy of the sources, installs it into a
fresh virtual environment that borrows this environment's dependencies (no
download, no build isolation), and runs a preset from a folder that is not the
checkout, checking that the installed copy, not the checkout, is what ran.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRESETS = sorted(p.stem for p in (REPO / "configs").glob("*.toml"))


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that points Python at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    return {**env, **extra}


def _run(args: list, cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=_env(**extra), capture_output=True, text=True, timeout=300
    )


def _copy_sources(dest: Path) -> Path:
    """What the build reads, copied, so the build leaves no build/ or egg-info in the checkout."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("nninit_cli", "configs"):
        shutil.copytree(REPO / name, dest / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    return dest


def _dependency_dirs() -> list[str]:
    """This environment's site-packages: the fresh venv imports torch & co. from there.

    Listed in a .pth file, they are added to sys.path but their own .pth files are
    not run, so the editable install's finder (a .pth hook) stays out.
    """
    paths = sysconfig.get_paths()
    dirs = [paths["purelib"], paths["platlib"], *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    out = []
    for d in dirs:
        if Path(d).is_dir() and Path(d).resolve() != REPO and d not in out:
            out.append(d)
    return out


def _fresh_venv(root: Path) -> tuple[Path, Path]:
    """(python, bin folder) of a new venv without pip that sees this environment's packages."""
    r = _run([sys.executable, "-m", "venv", "--without-pip", root], cwd=root.parent)
    assert r.returncode == 0, r.stderr
    bindir = root / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    r = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root)
    purelib = Path(r.stdout.strip())
    (purelib / "nninit-test-deps.pth").write_text("\n".join(_dependency_dirs()) + "\n")
    return python, bindir


def _pip_install(python: Path, *args: str | Path) -> None:
    """pip from this environment, run by the venv's python, so it installs into the venv.

    --ignore-installed: the nninit this environment has is not to be touched.
    """
    r = _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--ignore-installed",
            "--no-warn-script-location",
            *args,
        ],
        cwd=python.parent,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def _check_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n for n in names if n.startswith("nninit_cli/presets/")}
    assert shipped == {"nninit_cli/presets/__init__.py", *(f"nninit_cli/presets/{p}.toml" for p in PRESETS)}
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "nninit_cli").rglob("*.py")}
    missing = modules - names
    assert not missing, f"not in the wheel (list the subpackage in pyproject.toml): {sorted(missing)}"
    assert not any(n.startswith(("configs/", "tests/")) for n in names)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["wheel", "editable"])
def test_installed_nninit_runs_a_preset_from_any_folder(tmp_path, mode):
    src = _copy_sources(tmp_path / "src")
    python, bindir = _fresh_venv(tmp_path / "venv")
    if mode == "wheel":
        r = _run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "--no-index",
                "--no-build-isolation",
                "-w",
                tmp_path / "dist",
                src,
            ],
            cwd=tmp_path,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        (wheel,) = (tmp_path / "dist").glob("nninit-*.whl")
        _check_wheel_contents(wheel)
        _pip_install(python, wheel)
        shutil.rmtree(src)  # nothing may still point at the sources
        package_root = tmp_path / "venv"
    else:
        _pip_install(python, "-e", src)
        package_root = src
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    where = "import nninit_cli.config as c; print(c.__file__); print(c.presets_dir())"
    r = _run([python, "-c", where], elsewhere)
    module, presets = (Path(line).resolve() for line in r.stdout.split())
    assert package_root.resolve() in module.parents, module  # the installed copy, not the checkout
    assert sorted(p.stem for p in presets.glob("*.toml")) == PRESETS

    nninit = bindir / ("nninit.exe" if os.name == "nt" else "nninit")
    r = _run([nninit, "list", "--json"], elsewhere)
    assert r.returncode == 0, r.stderr
    assert [p["name"] for p in json.loads(r.stdout)["presets"]] == PRESETS

    r = _run([nninit, "run", "dead-relu", "--json"], elsewhere)
    assert r.returncode == 1, r.stderr  # the preset sets --fail-on dead, and the verdict holds
    (run,) = json.loads(r.stdout)["runs"]
    grads = {p["name"]: p["grad_norm"] for p in run["params"]}
    assert grads.pop("fc5.bias") > 0.1 and set(grads.values()) == {0.0}, grads
    assert run["verdict"] == "dead"
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # grad-norms writes nothing unasked


def test_run_unknown_preset_lists_the_presets(cli):
    r = cli("run", "nosuch")
    assert r.code == 2 and "Traceback" not in r.err
    names = ", ".join(PRESETS)
    assert r.err.splitlines() == [
        f"nninit: error: PRESET: no preset 'nosuch'; presets: {names} (or a path to a .toml file)"
    ]
    r = cli("run", "nosuch.toml")  # a path is reported as a path
    assert r.code == 2 and r.err.splitlines() == ["nninit: error: PRESET: nosuch.toml: no such file"]


def _complete(words: str, cword: int, cwd: Path) -> list[str]:
    """What bash completion gets from nninit (stdout through a pipe, as the shell reads it)."""
    r = _run(
        [sys.executable, "-m", "nninit_cli"],
        cwd,
        _NNINIT_COMPLETE="complete_bash",
        COMP_WORDS=words,
        COMP_CWORD=str(cword),
    )
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout.split()


def test_completion_names_commands_and_presets(tmp_path):
    assert _complete("nninit std", 1, tmp_path) == ["std-trace"]
    assert _complete("nninit g", 1, tmp_path) == ["grad-norms", "gain"]
    assert _complete("nninit run dead", 2, tmp_path) == ["dead-relu"]
    assert _complete("nninit run ", 2, tmp_path) == PRESETS
    assert _complete("nninit std-trace --lay", 2, tmp_path) == ["--layers"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_install_completion_gives_bash_a_working_script(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # bash as the parent process: --install-completion detects the shell it runs in
    install = '"$0" -m nninit_cli --install-completion; exit $?'
    r = _run(["bash", "-c", install, sys.executable], tmp_path, HOME=str(home))
    assert r.returncode == 0, r.stdout + r.stderr
    script = home / ".bash_completions" / "nninit.sh"
    assert f"source '{script}'" in (home / ".bashrc").read_text()

    # A shell that sourced it completes `nninit run dead<TAB>` through the command on PATH.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "nninit").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m nninit_cli "$@"\n')
    (bindir / "nninit").chmod(0o755)
    r = _run(
        [
            "bash",
            "-c",
            f"source '{script}'; COMP_WORDS=(nninit run dead); COMP_CWORD=2; "
            '_nninit_completion nninit; printf "%s\\n" "${COMPREPLY[@]}"',
        ],
        tmp_path,
        HOME=str(home),
        PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    assert r.returncode == 0 and r.stdout.split() == ["dead-relu"], r.stdout + r.stderr
