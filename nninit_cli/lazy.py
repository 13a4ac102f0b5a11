"""Modules imported on first use.

The activation and initialiser records name torch and numpy functions, yet
`nninit --help`, `nninit list` and every usage error must load neither: `import
torch` takes about a second and a half, numpy a tenth of one.  A `LazyModule`
stands in for the module in the records' function bodies and imports it the
first time one of them runs.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module `name`; the first attribute read imports it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        # only called for names not set in __init__, i.e. the module's own
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
