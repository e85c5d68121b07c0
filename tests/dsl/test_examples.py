"""Every DSL example in examples/ runs as written and prints what it says."""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")

# example -> text its output must contain
EXPECT = {
    "opensnoop_ringbuf.py": ["/etc/hostname", "bytes", "c_ulong("],
    "tracepoint_execsnoop.py": ["true /bin/true"],
    "raw_tracepoint_syscount.py": ["syscall  110:"],          # getppid on x86_64
    "tp_btf_fork.py": ["forked"],
    "uprobe_getpid.py": ["kill signal 0"],
    "usdt_python.py": ["_coro"],
    "perf_event_profile.py": ["samples"],
    "kprobe_tcp_sendmsg.py": ["on_send"],
    "fentry_unlink.py": ["compiled:", "on_file_open"],
    "iter_tasks.py": ["python"],
    "packet_programs.py": ["xdp udp -> 1  tcp -> 2", "keeps 64 bytes", "tc -> 0  cgroup_skb -> 1"],
    "print_opens.py": ["opens /etc/hostname flags=0x"],
    "sockmap_splice.py": ["received: b'hello through the sockmap'", "bytes moved: 25"],
}


def test_every_dsl_example_is_listed():
    found = {f for f in os.listdir(EXAMPLES) if f.endswith(".py") and not f.startswith("bcc_")}
    assert found == set(EXPECT)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_example_runs(root, name, tmp_path, cache_home):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, name)], capture_output=True, text=True,
                         timeout=60, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for needle in EXPECT[name]:
        assert needle in out.stdout, out.stdout


def test_example_uses_the_cache_the_second_time(root, cache_home):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    path = os.path.join(EXAMPLES, "tp_btf_fork.py")
    code = "import runpy, sys; runpy.run_path(sys.argv[1]); print('llvmlite' in sys.modules)"
    first = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, env=env)
    second = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, env=env)
    assert first.stdout.split()[-1] == "True" and second.stdout.split()[-1] == "False", second.stderr
