"""The activation and initialiser records by name and alias, and the lookups on them.

The records themselves, one per activation and per initialiser, are in
`nninit_cli.activations` and `nninit_cli.initialisers`; this module indexes
them (refusing a name or alias that two records claim) and answers the
questions the flags ask: which name does `--act` mean, what gain does torch
use.  Free of torch and numpy, like the records: `nninit --help`, `nninit
list` and every usage error are answered from here in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from nninit_cli.activations import ACTIVATION_RECORDS, ActivationRecord
from nninit_cli.initialisers import INITIALISER_RECORDS, InitialiserRecord

R = TypeVar("R", ActivationRecord, InitialiserRecord)


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _index(records: Iterable[R], kind: str) -> dict[str, R]:
    """Records by canonical name, in their order; a name or alias claimed
    twice fails here, at import, rather than resolving to either."""
    table: dict[str, R] = {}
    seen: dict[str, str] = {}
    for rec in records:
        if _key(rec.name) != rec.name:
            raise ValueError(f"{kind} {rec.name!r}: a name is lower case with - (as {_key(rec.name)!r})")
        for spelling in (rec.name, *rec.aliases):
            key = _key(spelling)
            if seen.get(key, rec.name) != rec.name:
                raise ValueError(f"{kind} {rec.name!r}: {spelling!r} is already {seen[key]!r}")
            seen[key] = rec.name
        table[rec.name] = rec
    return table


ACTIVATIONS: dict[str, ActivationRecord] = _index(ACTIVATION_RECORDS, "activation")
INITS: dict[str, InitialiserRecord] = _index(INITIALISER_RECORDS, "initialiser")

# What torch's functions use when no gain is passed (`--gain torch`):
# xavier_* and orthogonal_ 1, kaiming_* leaky_relu with a=0, i.e. sqrt(2).
TORCH_DEFAULT_GAINS: dict[str, float] = {
    name: rec.torch_default_gain for name, rec in INITS.items() if rec.torch_default_gain is not None
}


def torch_gain(act: str, negative_slope: float = 0.01) -> float | None:
    """`torch.nn.init.calculate_gain` for `act`, or None where torch has none."""
    gain = ACTIVATIONS[act].torch_gain
    return None if gain is None else gain(negative_slope)


def _lookup(table: dict[str, R], name: str) -> str | None:
    key = _key(name)
    if key in table:
        return key
    for canonical, rec in table.items():
        if key in (_key(a) for a in rec.aliases):
            return canonical
    return None


def canonical_act(name: str) -> str | None:
    """The canonical activation name for `name` or an alias, None if unknown."""
    return _lookup(ACTIVATIONS, name)


def canonical_init(name: str) -> str | None:
    """The canonical initialiser name for `name` or an alias, None if unknown."""
    return _lookup(INITS, name)


def act_choices() -> str:
    return ", ".join(ACTIVATIONS)


def init_choices() -> str:
    return ", ".join(INITS)
