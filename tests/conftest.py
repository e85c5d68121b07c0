"""Shared test fixtures.

Kernel tests run for real, as root.  Two leak checks keep every test honest:

* per test: no BPF program, map, link or perf event FD opened by the test is
  still open in this process after it (and a garbage collection) finished;
* per session: every BPF object id, bpffs pin, network namespace and network
  device that appeared during the run is gone at the end.  The global id
  check runs when ``CI`` is set (CI machines run nothing else) or when
  ``PYBPF_STRICT_LEAKS=1``; elsewhere other processes may be creating
  objects at the same time.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time

import pytest

from pybpf_dsl.runtime import syscall

_BPF_FD_KINDS = ("anon_inode:bpf-map", "anon_inode:bpf-prog", "anon_inode:bpf_link",
                 "anon_inode:bpf-link", "anon_inode:[perf_event]", "anon_inode:bpf_iter",
                 "anon_inode:btf")


def _open_bpf_fds() -> dict[int, str]:
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith(_BPF_FD_KINDS):
            fds[int(name)] = target
    return fds


# Files the kernel itself creates when bpffs is mounted: not test leftovers.
_BPFFS_PRELOADED = {"/sys/fs/bpf/maps.debug", "/sys/fs/bpf/progs.debug"}


def _kernel_objects() -> dict[str, set]:
    objs: dict[str, set] = {}
    if os.geteuid() == 0:
        for kind in ("prog", "map", "link"):
            objs[kind] = set(syscall.iter_ids(kind))
    objs["pins"] = set()
    if os.path.ismount("/sys/fs/bpf"):
        for root, dirs, files in os.walk("/sys/fs/bpf"):
            objs["pins"].update(os.path.join(root, f) for f in files + dirs)
        objs["pins"] -= _BPFFS_PRELOADED
    objs["netns"] = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    objs["netdev"] = set(os.listdir("/sys/class/net"))
    return objs


def _strict() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("PYBPF_STRICT_LEAKS") == "1"


def pytest_sessionstart(session):
    session.config._kernel_objects_before = _kernel_objects()


def pytest_sessionfinish(session, exitstatus):
    before = session.config._kernel_objects_before
    gc.collect()
    leaked: dict[str, set] = {}
    for _ in range(40):  # programs and maps are freed after an RCU grace period
        after = _kernel_objects()
        leaked = {k: after[k] - before.get(k, set()) for k in after}
        if not _strict():
            leaked = {k: v for k, v in leaked.items() if k in ("pins", "netns")}
        leaked = {k: v for k, v in leaked.items() if v}
        if not leaked:
            return
        time.sleep(0.05)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"KERNEL LEAK: objects left behind by the test run: {leaked}", red=True)
    session.exitstatus = 1


@pytest.fixture(autouse=True)
def _no_fd_leaks(request):
    """Fail a test that leaves a BPF program, map, link or perf event FD open."""
    before = _open_bpf_fds()
    yield
    if request.node.get_closest_marker("allow_fd_leak"):
        return
    gc.collect()
    leaked = {fd: kind for fd, kind in _open_bpf_fds().items() if before.get(fd) != kind}
    assert not leaked, f"test left kernel objects open: {leaked}"


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_fd_leak: the test hands FDs to a wider-scoped fixture")


@pytest.fixture(scope="session")
def root():
    """Skip unless running as root (every kernel test needs it)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)")


@pytest.fixture
def bpf_cc(tmp_path):
    """Compile BPF C source to an object file with the ziglang wheel's clang; returns its path."""
    try:
        import ziglang  # noqa: F401
    except ImportError:
        pytest.skip("needs the ziglang wheel (pip install ziglang) to compile BPF C")

    def compile_(source: str, name: str = "prog") -> str:
        src = tmp_path / f"{name}.c"
        obj = tmp_path / f"{name}.o"
        src.write_text(source)
        subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", "bpfel-freestanding-none",
                        "-O2", "-g", "-c", str(src), "-o", str(obj)], check=True, capture_output=True)
        return str(obj)
    return compile_


@pytest.fixture(scope="session")
def _llvm_layout() -> str | None:
    """The default DSL cache's lean layout of this llvmlite's library (made first when missing)."""
    from pybpf_dsl.cache import cache_dir
    from pybpf_dsl.lower import liblayout, pipeline
    home = liblayout.layout_home(pipeline.llvmlite_library(), cache_dir())
    if not os.path.isfile(os.path.join(home, "libllvmlite.so")):
        subprocess.run([sys.executable, "-c", "from pybpf_dsl.lower import backend\n"
                        "backend.optimise('define void @f() {\\n ret void\\n}')"], check=True, timeout=300)
    return home if os.path.isfile(os.path.join(home, "libllvmlite.so")) else None


@pytest.fixture
def cache_home(tmp_path, _llvm_layout):
    """An empty XDG_CACHE_HOME for a child process, sharing the default cache's lean LLVM
    layout (each cache makes its own otherwise: ~1.3 s and 150 MiB of disk)."""
    home = tmp_path / "cache"
    (home / "pybpf_dsl").mkdir(parents=True)
    if _llvm_layout is not None:
        os.symlink(_llvm_layout, home / "pybpf_dsl" / os.path.basename(_llvm_layout))
    return home
