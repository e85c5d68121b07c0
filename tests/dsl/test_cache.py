"""The object cache key follows the user modules a probe module imports, and nothing else."""

import importlib
import sys

import pytest

from pybpf_dsl import cache

FILES = {
    "pkg/__init__.py": "",
    "pkg/consts.py": "LIMIT = 5\n",
    "pkg/shapes.py": "from pybpf_dsl.types import Struct, u32\n\nclass Pair(Struct):\n    a: u32\n    b: u32\n",
    "pkg/funcs.py": ("import os\nfrom pybpf_dsl import bpf_function\nfrom pybpf_dsl.types import u32\n"
                     "from .consts import LIMIT\n\n@bpf_function\ndef clamp(x: u32) -> u32:\n"
                     "    return x if x < LIMIT else LIMIT\n"),
    "pkg/probe.py": ("from pybpf_dsl.decorators import syscall_prog\nfrom pybpf_dsl.types import Ptr\n"
                     "from pkg import funcs\nfrom pkg.shapes import Pair\n\n@syscall_prog\n"
                     "def entry(ctx: Ptr[Pair]) -> int:\n    ctx.b = funcs.clamp(ctx.a)\n    return 0\n"),
}


@pytest.fixture
def pkg(tmp_path, monkeypatch):
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for mod in [m for m in sys.modules if m == "pkg" or m.startswith("pkg.")]:
        del sys.modules[mod]


def _key():
    probe = importlib.import_module("pkg.probe")
    return cache.cache_key([probe.entry], "GPL")


@pytest.mark.parametrize("edited", ["pkg/consts.py", "pkg/shapes.py", "pkg/funcs.py", "pkg/probe.py"])
def test_editing_any_imported_user_module_changes_the_key(pkg, edited):
    before = _key()
    files = cache._source_files([importlib.import_module("pkg.probe").entry])
    assert {str(pkg / n) for n in FILES if n != "pkg/__init__.py"} <= set(files)
    assert not any("site-packages" in f or "/pybpf_dsl/" in f or f.endswith("/os.py") for f in files)
    (pkg / edited).write_text((pkg / edited).read_text() + "# edited\n")
    assert _key() != before


def test_unrelated_files_do_not_change_the_key(pkg):
    before = _key()
    (pkg / "pkg/unused.py").write_text("X = 1\n")
    assert _key() == before


def test_entries_hold_the_object_and_its_metadata(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache.put("k1", b"\x7fELF1", b"[]")
    cache.put("k2", b"\x7fELF2")
    assert cache.get("k1") == (b"\x7fELF1", b"[]") and cache.get("k2") == (b"\x7fELF2", b"")
    assert cache.get("nope") is None
    assert cache.clear() == 2 and cache.get("k1") is None
