"""``bcc.containers``: restrict a tool to processes of some cgroups or mount namespaces.

``filter_by_containers(args)`` returns C text defining
``container_should_be_filtered()``, for tools that take ``--cgroupmap`` and
``--mntnsmap`` (paths of pinned hash maps whose keys are cgroup ids or mount
namespace inode numbers).  Without either option the function is constant 0.
"""

from __future__ import annotations

from typing import Any

__all__ = ["filter_by_containers"]


def _cgroup_filter(pin: str | None) -> str:
    if not pin:
        return "static inline int _cgroup_filter() { return 0; }\n"
    return (f'BPF_TABLE_PINNED("hash", u64, u64, cgroupset, 1024, "{pin}");\n'
            "static inline int _cgroup_filter() {\n"
            "    u64 id = bpf_get_current_cgroup_id();\n"
            "    return cgroupset.lookup(&id) == NULL;\n"
            "}\n")


def _mntns_filter(pin: str | None) -> str:
    if not pin:
        return "static inline int _mntns_filter() { return 0; }\n"
    return (f'BPF_TABLE_PINNED("hash", u64, u32, mount_ns_set, 1024, "{pin}");\n'
            "static inline int _mntns_filter() {\n"
            "    struct task_struct *task = (struct task_struct *)bpf_get_current_task();\n"
            "    u64 ns_id = task->nsproxy->mnt_ns->ns.inum;\n"
            "    return mount_ns_set.lookup(&ns_id) == NULL;\n"
            "}\n")


def filter_by_containers(args: Any) -> str:
    """C text for ``container_should_be_filtered()`` from ``args.cgroupmap`` / ``args.mntnsmap``."""
    return (_cgroup_filter(getattr(args, "cgroupmap", None)) + _mntns_filter(getattr(args, "mntnsmap", None))
            + "static inline int container_should_be_filtered() {\n"
              "    return _cgroup_filter() || _mntns_filter();\n"
              "}\n")
