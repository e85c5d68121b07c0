"""``bcc.utils``: the helpers bcc tools import (printb, ArgString, CPU lists, ...)."""

from __future__ import annotations

import os
import re
import sys
import traceback
import warnings
from typing import IO, Any, Iterable

from pybpf_dsl.runtime.cpus import online_cpus, possible_cpus

__all__ = ["printb", "ArgString", "get_online_cpus", "get_possible_cpus", "detect_language",
           "warn_with_traceback", "StrcmpRewrite", "FILESYSTEMENCODING"]

FILESYSTEMENCODING = sys.getfilesystemencoding()
_strict_bytes = False
# Runtimes a process can run, recognised by the executable or a mapped library name.
_LANGUAGE_MARKERS = {"java": ("java", "libjvm"), "node": ("node", "libnode"), "perl": ("perl", "libperl"),
                     "php": ("php", "libphp"), "python": ("python", "libpython"),
                     "ruby": ("ruby", "libruby"), "tcl": ("tclsh", "libtcl")}


def get_online_cpus() -> list[int]:
    """The online CPU numbers."""
    return online_cpus()


def get_possible_cpus() -> list[int]:
    """The possible CPU numbers (what per-CPU maps have slots for)."""
    return possible_cpus()


def printb(s: bytes, file: IO[Any] = sys.stdout, nl: int = 1) -> None:
    """Write bytes to ``file`` (stdout) as they are, with a newline unless ``nl`` is 0, and flush."""
    buf = getattr(file, "buffer", file)
    buf.write(s)
    if nl:
        buf.write(b"\n")
    file.flush()


class ArgString:
    """A command-line string that converts to bytes (``bytes(arg)``) for comparing with kernel data."""

    def __init__(self, arg: str) -> None:
        self.s = arg

    def __bytes__(self) -> bytes:
        return self.s.encode(FILESYSTEMENCODING)

    def __str__(self) -> str:
        return self.s


def warn_with_traceback(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                        line: str | None = None) -> None:
    """A ``warnings.showwarning`` that also prints the stack (bcc's debugging aid)."""
    log = file if hasattr(file, "write") else sys.stderr
    traceback.print_stack(f=sys._getframe(2), file=log)
    log.write(warnings.formatwarning(message, category, filename, lineno, line))


def _assert_is_bytes(arg: Any) -> Any:
    """bcc's argument coercion: str becomes bytes (with a DeprecationWarning)."""
    if arg is None or isinstance(arg, bytes):
        return arg
    if _strict_bytes:
        raise TypeError(f"not a bytes object: {arg!r}")
    warnings.warn(f"not a bytes object: {arg!r}", DeprecationWarning, 2)
    return bytes(ArgString(arg))


def detect_language(candidates: Iterable[str], pid: int) -> str | None:
    """Which of ``candidates`` ("java", "python", "ruby"...) process ``pid`` runs, else None."""
    try:
        exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
        with open(f"/proc/{pid}/maps") as f:
            libs = {os.path.basename(line.split()[-1]) for line in f if "/" in line}
    except OSError:
        return None
    for lang in candidates:
        exe_name, lib = _LANGUAGE_MARKERS.get(lang, (lang, "lib" + lang))
        if exe.startswith(exe_name) or any(name.startswith(lib) for name in libs):
            return lang
    return None


class StrcmpRewrite:
    """bcc's STRCMP("literal", expr) rewriting for trace-like tools' filter expressions."""

    _PATTERN = re.compile(r'STRCMP\(("[^"]+")\s*,(.+?)\)')
    _BIN_PATTERN = re.compile(r'STRCMP\("([^"]+)"\s*,(.+?)\)')

    @staticmethod
    def _generate_streq_function(string: str, probe_read_func: str, streq_functions: str,
                                 probeid: int) -> tuple[str, str]:
        fname = f"streq_{probeid}"
        streq_functions += (
            f"\nstatic inline bool {fname}(char const *ignored, uintptr_t str) {{\n"
            f"    char needle[] = {string};\n"
            "    char haystack[sizeof(needle)];\n"
            f"    {probe_read_func}(&haystack, sizeof(haystack), (void *)str);\n"
            "    for (int i = 0; i < sizeof(needle) - 1; ++i)\n"
            "        if (needle[i] != haystack[i]) return false;\n"
            "    return true;\n}\n")
        return fname, streq_functions

    @staticmethod
    def rewrite_expr(expr: str, bin_cmp: bool, is_user: bool, probe_user_list: Iterable[str],
                     streq_functions: str, probeid: int) -> dict[str, Any]:
        """Replace each STRCMP in ``expr`` with a call to a generated comparison function."""
        pattern = StrcmpRewrite._BIN_PATTERN if bin_cmp else StrcmpRewrite._PATTERN
        user = set(probe_user_list)
        for m in list(pattern.finditer(expr)):
            reader = "bpf_probe_read_user" if is_user or m.group(2).strip() in user else "bpf_probe_read_kernel"
            fname, streq_functions = StrcmpRewrite._generate_streq_function(
                m.group(1), reader, streq_functions, probeid)
            probeid += 1
            expr = expr.replace("STRCMP", fname, 1)
        return {"expr": expr, "streq_functions": streq_functions, "probeid": probeid}
