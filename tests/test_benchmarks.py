"""Every script in benchmarks/ runs in CI: quick mode, without bcc, as a subprocess.

Each test checks that the script exits 0 and prints its figure rows (a few
key labels), never the figures' values: they are meaningless in quick mode
and noisy on a shared machine.  The scripts get an empty ``XDG_CACHE_HOME``,
which must still be empty afterwards: a benchmark keeps its caches in
temporary directories, never in the user's.
"""

from __future__ import annotations

import os
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
OBJECT_LOAD = (r"^parse \+ load a one-map CO-RE program" if importlib.util.find_spec("ziglang")
               else r"^object load: skipped")  # bench_btf compiles its object with ziglang

# script: labels (regular expressions, searched line by line) its quick run must print
EXPECTED = {
    "bench_maps": [r"^2,000-entry hash", r"^items\(\) ", r"^clear\(\) ", r"^len\(\) ", r"^update one by one ",
                   r"^items_update_batch\(\) ", r"^lookup one by one ", r"^  \.\.\. t\[i\] ",
                   r"bcc 0\.26 \(recorded in issue 2, not measured now\)"],
    "bench_buffers": [r"bcc not available", r"issue 2, bcc 0\.26",
                      r"^  ours perf buffer, callback \(perf_buffer_poll\) .*/s",
                      r"^  ours perf buffer, read_into .*/s", r"^  ours ring buffer, drain\(\)\.as_array .*/s",
                      r"^ perf buffer \(bcc", r"^ ring buffer \(bcc", r"^  bulk read_into\(out\) .*/s",
                      r"^  consume .* llvmlite not loaded", r"^  read_into .* llvmlite"],
    "bench_btf": [r"^cold start", r"kernel_btf_ms .* ms", r"ctype_task_struct_ms", r"kernel_btf\(\) \+ find",
                  OBJECT_LOAD],
    "bench_dsl_startup": [r"^  pybpf_dsl cold .* MiB", r"^  pybpf_dsl cached .* MiB", r"^  bcc 0\.26 ",
                          r"^  bpftrace 0\.17 "],
    "bench_dsl_codegen": [r"^per-event kernel cost, 2000 getppid", r"^  count +dsl +\d", r"^  count +bcc C +\d",
                          r"^  hist +dsl +\d", r"^  hist +bcc C +\d"],
    "bench_compat_bpf_startup": [r"^compat_c cold +attached", r"^compat_c cached +attached",
                                 r"^bcc 0\.26 .*not measured now", r"^cold vs bcc: "],
    "bench_compat_startup": [r"^first +object ready", r"^cold +object ready", r"^cached +object ready",
                             r"^bcc 0\.26 \(recorded"],
    "bench_imports": [r"^interpreter start-up", r"^import pybpf_dsl\.runtime\.maps +site .* no-site",
                      r"^import compat_c\.frontend +site", r"^    .* ms self .* ms total"],
}
EXTRA_ARGS = {"bench_imports": ["--profile", "pybpf_dsl.runtime.maps", "compat_c.frontend"]}


def test_every_script_is_covered():
    scripts = {p.stem for p in BENCHMARKS.glob("bench_*.py")}
    assert scripts == set(EXPECTED), "add the new benchmark to EXPECTED"


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_quick_run(root, script, tmp_path):
    cache = tmp_path / "xdg-cache"
    cache.mkdir()
    env = dict(os.environ, PYBPF_BENCH_BCC="0", XDG_CACHE_HOME=str(cache))
    env.pop("PYBPF_CACHE_DIR", None)
    done = subprocess.run([sys.executable, str(BENCHMARKS / f"{script}.py"), "--quick",
                           *EXTRA_ARGS.get(script, [])],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    missing = [label for label in EXPECTED[script] if not re.search(label, done.stdout, re.MULTILINE)]
    assert not missing, f"{script} printed no row matching {missing}:\n{done.stdout}"
    assert not list(cache.rglob("*")), f"{script} wrote into XDG_CACHE_HOME: {list(cache.rglob('*'))}"
