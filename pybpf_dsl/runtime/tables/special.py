"""Keyed tables with their own key or value layout: LPM tries and stack traces."""

from __future__ import annotations

import ctypes as ct
from typing import Any, Callable, Iterator

from ..maps import Map
from .base import TableBase

__all__ = ["LpmTrie", "StackTrace"]


class LpmTrie(TableBase):
    """BPF_MAP_TYPE_LPM_TRIE: keys are ``{u32 prefixlen; u8 data[]}``; ``len()`` is not supported."""

    @staticmethod
    def _default_key(map: Map) -> Any:
        return type("LpmKey", (ct.Structure,), {
            "_fields_": [("prefixlen", ct.c_uint), ("data", ct.c_ubyte * (map.key_size - 4))]})

    def __len__(self) -> int:
        raise NotImplementedError


class StackTrace(TableBase):
    """BPF_MAP_TYPE_STACK_TRACE: ``walk(stack_id)`` yields the addresses of one stack."""

    MAX_DEPTH = 127
    BPF_F_STACK_BUILD_ID = 1 << 5
    BPF_STACK_BUILD_ID_EMPTY = 0
    BPF_STACK_BUILD_ID_VALID = 1
    BPF_STACK_BUILD_ID_IP = 2

    @staticmethod
    def _default_leaf(map: Map) -> Any:
        if map.flags & StackTrace.BPF_F_STACK_BUILD_ID:
            entry = type("StackBuildId", (ct.Structure,), {"_fields_": [
                ("status", ct.c_int), ("build_id", ct.c_ubyte * 20), ("offset", ct.c_ulonglong)]})
            return type("StackTrace", (ct.Structure,), {
                "_fields_": [("trace", entry * (map.value_size // ct.sizeof(entry)))]})
        return type("StackTrace", (ct.Structure,), {
            "_fields_": [("ip", ct.c_ulonglong * (map.value_size // 8))]})

    def walk(self, stack_id: int, resolve: Callable[[int], Any] | None = None) -> Iterator[Any]:
        """The frames of ``stack_id`` (innermost first), through ``resolve`` when given.

        KeyError (raised here, not on iteration) when the stack id is unknown.
        """
        return self._frames(self[self.Key(stack_id)], resolve)

    def _frames(self, stack: Any, resolve: Callable[[int], Any] | None) -> Iterator[Any]:
        build_id = self.flags & self.BPF_F_STACK_BUILD_ID
        frames = stack.trace if build_id else stack.ip
        for n in range(min(self.MAX_DEPTH, len(frames))):
            if build_id:
                entry = frames[n]
                if entry.status in (self.BPF_STACK_BUILD_ID_IP, self.BPF_STACK_BUILD_ID_EMPTY):
                    return
                addr = entry
            else:
                addr = frames[n]
                if addr == 0:
                    return
            yield resolve(addr) if resolve else addr

    def __len__(self) -> int:
        return sum(1 for _ in self.__iter__())

    def clear(self) -> None:
        """Does nothing, as in bcc (stack ids stay valid for counts read later)."""
