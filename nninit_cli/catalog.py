"""What `nninit list` shows: every activation, initialiser and preset."""

from __future__ import annotations

from typing import Any

from nninit_cli import registry
from nninit_cli.config import preset_summaries
from nninit_cli.theory import auto_gain, fixed_point_gain


def catalog(negative_slope: float = 0.01) -> dict[str, Any]:
    acts = []
    for name, info in registry.ACTIVATIONS.items():
        gain, source = auto_gain(name, negative_slope)
        acts.append(
            {
                "name": name,
                "aliases": list(info.aliases),
                "formula": info.formula,
                "torch_gain": registry.torch_gain(name, negative_slope),
                "fixed_point_gain": fixed_point_gain(name, negative_slope),
                "auto_gain": gain,
                "auto_gain_source": source,
            }
        )
    inits = [
        {
            "name": name,
            "aliases": list(info.aliases),
            "flags": [f"--{p}" for p in info.flags],
            "std": info.std_formula,
        }
        for name, info in registry.INITS.items()
    ]
    presets = [{"name": n, "command": c, "description": d} for n, c, d in preset_summaries()]
    return {"activations": acts, "inits": inits, "presets": presets}
