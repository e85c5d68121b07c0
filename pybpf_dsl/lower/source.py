"""Pass 1: a Python function's source as an AST whose locations are the user's file:line:col."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import CompileError, SourceLocation

__all__ = ["ParsedFunction", "parse_function", "loc_of", "fail"]


@dataclass
class ParsedFunction:
    """A function's ``def`` node, the file it came from and its globals."""

    node: ast.FunctionDef
    filename: str
    globals: dict[str, Any]
    closure: dict[str, Any]
    source: str


def parse_function(fn: Callable[..., Any]) -> ParsedFunction:
    """Parse ``fn``'s source; every node's lineno/col_offset points into the real file."""
    try:
        lines, first = inspect.getsourcelines(fn)
        filename = inspect.getsourcefile(fn) or fn.__code__.co_filename
    except (OSError, TypeError) as exc:
        raise CompileError(f"cannot read the source of {fn.__qualname__}: {exc}",
                           hint="define BPF functions in a .py file, not in the REPL or exec()") from exc
    text = "".join(lines)
    dedented = textwrap.dedent(text)
    indent = len(lines[0]) - len(lines[0].lstrip())
    tree = ast.parse(dedented, filename)
    for node in ast.walk(tree):
        if hasattr(node, "lineno"):
            node.lineno += first - 1
            node.col_offset += indent
            if getattr(node, "end_lineno", None) is not None:
                node.end_lineno += first - 1
    fdef = tree.body[0]
    if not isinstance(fdef, ast.FunctionDef):
        raise CompileError(f"{fn.__qualname__} is not a plain function",
                           SourceLocation(filename, first, 0), "use a def statement")
    closure: dict[str, Any] = {}
    if fn.__closure__:
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
            try:
                closure[name] = cell.cell_contents
            except ValueError:
                pass
    return ParsedFunction(fdef, filename, fn.__globals__, closure, text)


def loc_of(node: ast.AST, filename: str) -> SourceLocation:
    """The SourceLocation of ``node`` in ``filename``."""
    return SourceLocation(filename, getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def fail(message: str, node: ast.AST, filename: str, hint: str | None = None) -> CompileError:
    """A CompileError at ``node`` (raise it)."""
    return CompileError(message, loc_of(node, filename), hint)
