"""Tables of values without keys: queues, stacks and bloom filters."""

from __future__ import annotations

from typing import Any, Iterator

from .base import TableCore

__all__ = ["QueueStack", "BloomFilter"]


class _ValueOnly(TableCore):
    """Maps with values but no keys; the constructor matches the keyed tables' (key_type unused)."""

    BPF_EXIST = 2

    def __init__(self, map: Any, key_type: Any = None, leaf_type: Any = None,
                 name: str = "", owner: Any = None) -> None:
        super().__init__(map, leaf_type, name, owner)

    def push(self, leaf: Any, flags: int = 0) -> None:
        """Add ``leaf``; with BPF_EXIST a full queue/stack drops its oldest element."""
        self.map.update(None, self._leaf(leaf), flags)


class QueueStack(_ValueOnly):
    """BPF_MAP_TYPE_QUEUE (FIFO) and BPF_MAP_TYPE_STACK (LIFO)."""

    def pop(self) -> Any:
        """Remove and return the head; KeyError when empty."""
        leaf = self.Leaf()
        if not self.map.lookup_and_delete(None, leaf):
            raise KeyError("Could not pop from table")
        return leaf

    def peek(self) -> Any:
        """Return the head without removing it; KeyError when empty."""
        leaf = self.Leaf()
        if not self.map.lookup(None, leaf):
            raise KeyError("Could not peek table")
        return leaf

    def itervalues(self) -> Iterator[Any]:
        """Pop up to max_entries elements (destructive, as in bcc)."""
        for _ in range(self.max_entries):
            try:
                yield self.pop()
            except KeyError:
                return

    def values(self) -> list:
        """Pop every element into a list (empties the map, as in bcc)."""
        return list(self.itervalues())


class BloomFilter(_ValueOnly):
    """BPF_MAP_TYPE_BLOOM_FILTER: ``push(v)`` adds, ``peek(v)``/``v in t`` may give false positives."""

    def peek(self, leaf: Any) -> bool:
        """False when ``leaf`` was certainly never pushed."""
        return self.map.lookup(None, self._leaf(leaf))

    def __contains__(self, leaf: Any) -> bool:
        return self.peek(leaf)
