"""Make ``import bcc`` (and ``bcc.utils``, ``bcc.table``, ...) load :mod:`compat_c.bcc`.

:func:`install` puts a finder first on ``sys.meta_path``, so an installed
python3-bpfcc never shadows compat_c; submodules are imported only when a
tool asks for them::

    from compat_c.alias import install
    install()
    import bcc            # compat_c.bcc
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any, Sequence

__all__ = ["install", "uninstall", "BccAlias"]

_ALIASED = "bcc"
_TARGET = "compat_c.bcc"


class BccAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finder and loader answering ``bcc[.x]`` with the module ``compat_c.bcc[.x]``."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> Any:
        if fullname == _ALIASED or fullname.startswith(_ALIASED + "."):
            real = _TARGET + fullname[len(_ALIASED):]
            if importlib.util.find_spec(real) is None:
                return None
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec: Any) -> ModuleType:
        return importlib.import_module(_TARGET + spec.name[len(_ALIASED):])

    def exec_module(self, module: ModuleType) -> None:
        """The real module already ran when it was imported under its own name."""


def install() -> None:
    """Resolve ``bcc`` to compat_c from now on (idempotent)."""
    if not any(isinstance(f, BccAlias) for f in sys.meta_path):
        sys.meta_path.insert(0, BccAlias())


def uninstall() -> None:
    """Stop resolving ``bcc`` to compat_c (modules already imported stay in sys.modules)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, BccAlias)]
