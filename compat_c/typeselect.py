"""Cut the kernel types header down to what one program needs.

:func:`compat_c.vmlinux.render_split` writes the header as chunks (one per
top-level definition) and a :class:`TypeIndex` of what each defines and
needs by value.  A program's text names what it uses::

    keys = wanted_names(program_text)        # {"@task_struct", "u32", "TCP_CLOSE", ...}
    header = index.select(types_bytes, keys) # those definitions, their needs, forward declarations

A tag counts only after ``struct``/``union``/``enum`` (a variable named
``file`` does not pull in ``struct file``); typedef and enumerator names
count wherever they appear.  The selection may be too small for unusual
programs (a type reached only through a macro): the caller then compiles
against the full header.

The index is stored as a few flat arrays (names as sorted 64-bit hashes),
so loading it copies a few buffers instead of building a dict of every
kernel type name on each cold start (that took 20 ms).
"""

from __future__ import annotations

import marshal
import re
from array import array
from bisect import bisect_left
from typing import Iterable

from .cache import hash64

__all__ = ["TypeIndex", "wanted_names", "defined_tags"]

_TAG_RE = re.compile(r"\b(struct|union|enum)\s+(\w+)")
_IDENT_RE = re.compile(r"[A-Za-z_]\w*")
_TAG_REF = re.compile(rb"\b(struct|union) (\w+)")
_TAG_DEF = re.compile(r"\b(?:struct|union|enum)\s+(\w+)\s*\{")
_MAGIC = b"compat_c type index 2\n"


def wanted_names(c_text: str) -> set[str]:
    """Index keys ``c_text`` may need: ``@tag`` after struct/union/enum, every identifier bare."""
    return {f"@{m.group(2)}" for m in _TAG_RE.finditer(c_text)} | set(_IDENT_RE.findall(c_text))


def defined_tags(c_text: str) -> set[str]:
    """``@tag`` for every struct, union or enum ``c_text`` defines (``struct tag {``)."""
    return {f"@{name}" for name in _TAG_DEF.findall(c_text)}


class TypeIndex:
    """What each chunk of the types header spans, defines and needs.

    Chunk 0 is the attribute pragma with every forward declaration, the last
    chunk closes the pragma; both frame every selection.  Keys are ``"@tag"``
    for struct, union and enum tags and the bare name for typedefs and
    enumerators.  ``always`` chunks (what the base layer itself names) are
    part of every selection.
    """

    def __init__(self, spans: array, dep_at: array, deps: array, hashes: array, hits: array,
                 always: array) -> None:
        self.spans = spans      # flat byte offsets: start, end of each chunk
        self.dep_at = dep_at    # chunk i needs deps[dep_at[i]:dep_at[i + 1]]
        self.deps = deps
        self.hashes = hashes    # sorted key hashes ('Q'); hits[j] is the chunk hashes[j] names
        self.hits = hits
        self.always = always

    @classmethod
    def build(cls, chunks: list[bytes], needs: list[list[int]], names: dict[str, list[int]]) -> TypeIndex:
        """Index ``chunks`` (encoded text), the chunks each needs first, and the chunks each key names."""
        spans, pos = array("I"), 0
        for chunk in chunks:
            spans.extend((pos, pos + len(chunk)))
            pos += len(chunk)
        dep_at, deps = array("I", [0]), array("I")
        for need in needs:
            deps.extend(need)
            dep_at.append(len(deps))
        pairs = sorted((hash64(key), c) for key, found in names.items() for c in found)
        return cls(spans, dep_at, deps, array("Q", [h for h, _c in pairs]), array("I", [c for _h, c in pairs]),
                   array("I"))

    def with_always(self, keys: Iterable[str]) -> TypeIndex:
        """This index, with the chunks ``keys`` name in every selection."""
        return TypeIndex(self.spans, self.dep_at, self.deps, self.hashes, self.hits,
                         array("I", sorted(set(self.chunks(keys)))))

    def to_bytes(self) -> bytes:
        """The stored form (:meth:`from_bytes` reads it back)."""
        return _MAGIC + marshal.dumps((self.spans.tobytes(), self.dep_at.tobytes(), self.deps.tobytes(),
                                       self.hashes.tobytes(), self.hits.tobytes(), self.always.tobytes()))

    @classmethod
    def from_bytes(cls, data: bytes) -> TypeIndex:
        """Read what :meth:`to_bytes` wrote; ValueError when it is not that."""
        if not data.startswith(_MAGIC):
            raise ValueError("not a type index of this compat_c version")
        try:
            fields = marshal.loads(data[len(_MAGIC):])
        except (EOFError, TypeError, ValueError) as e:
            raise ValueError(f"corrupt type index: {e}") from None
        if not isinstance(fields, tuple) or len(fields) != 6 or not all(isinstance(f, bytes) for f in fields):
            raise ValueError("corrupt type index")
        arrays = []
        for code, raw in zip("IIIQII", fields):
            a = array(code)
            a.frombytes(raw)
            arrays.append(a)
        return cls(*arrays)

    def __len__(self) -> int:
        return len(self.spans) // 2

    def chunks(self, keys: Iterable[str]) -> list[int]:
        """The chunks defining ``keys`` (a hash collision may add one: harmless, it is a real type)."""
        hashes, hits, n = self.hashes, self.hits, len(self.hashes)
        found = []
        for key in keys:
            h = hash64(key)
            j = bisect_left(hashes, h)
            while j < n and hashes[j] == h:
                found.append(hits[j])
                j += 1
        return found

    def _reach(self, seeds: Iterable[int], stop: set[int]) -> set[int]:
        """``seeds`` and every chunk they need, not looking past the chunks in ``stop``."""
        dep_at, deps = self.dep_at, self.deps
        chosen = set(stop)
        todo = list(seeds)
        while todo:
            c = todo.pop()
            if c not in chosen:
                chosen.add(c)
                todo.extend(deps[dep_at[c]:dep_at[c + 1]])
        return chosen - stop

    def base_chunks(self) -> set[int]:
        """The ``always`` chunks and what they need: the part every selection shares."""
        return self._reach(self.always, set())

    def closure(self, keys: Iterable[str], omit: Iterable[str] = (), base: bool = True) -> list[int]:
        """Sorted chunks for ``keys`` with what they need, none defining ``omit``.

        ``base`` adds :meth:`base_chunks`; without it they are left out
        (they come from elsewhere, a precompiled header).
        """
        stop = set(self.chunks(omit))
        if base:
            chosen = self._reach([*self.chunks(keys), *self.always], stop)
        else:
            chosen = self._reach(self.chunks(keys), stop | self.base_chunks())
        chosen.discard(0)
        chosen.discard(len(self) - 1)
        return sorted(chosen)

    def select(self, text: bytes, keys: Iterable[str], omit: Iterable[str] = (), base: bool = True) -> str:
        """The part of the header ``text`` (bytes or mmap) that defines ``keys`` and what they need.

        Chunks keep the header's order; the structs and unions they mention
        are forward-declared first, so types used only through pointers
        need nothing more.  Chunks defining a key of ``omit`` are left out
        (the program defines those types itself, as it must where bcc's
        kernel headers lack a private type).  ``base`` is as for :meth:`closure`;
        nothing to define gives "".
        """
        spans = self.spans
        body = b"".join([text[spans[2 * c]:spans[2 * c + 1]] for c in self.closure(keys, omit, base)])
        if not body:
            return ""
        pragma = text[:text.find(b"\n") + 1]
        forward = b"".join(sorted({b"%s %s;\n" % m.groups() for m in _TAG_REF.finditer(body)}))
        last = len(self) - 1
        return (pragma + forward + body + text[spans[2 * last]:spans[2 * last + 1]]).decode()
