"""usdt: Python's function__entry probe, arguments by their .note.stapsdt specs (bpf.usdt_arg)."""
import os
import subprocess
from pybpf_dsl import bpf, load, usdt
from pybpf_dsl.maps import ArrayMap, HashMap
from pybpf_dsl.types import Array, char, u64

PYTHON = "/usr/bin/python3.11"
parent = ArrayMap[u64](max_entries=1)
calls = HashMap[Array[char, 32], u64](max_entries=1024)

@usdt(PYTHON + ":python:function__entry")
def on_call(ctx) -> int:
    if bpf.current_task().real_parent.tgid == parent[0]:
        name = Array[char, 32]()
        bpf.probe_read_user_str(name, bpf.usdt_arg(ctx, 2))
        calls[name] += 1
    return 0

if not os.path.exists(PYTHON):
    print(f"{PYTHON} (with USDT notes) is not installed")
else:
    with load(on_call) as prog:
        prog["parent"][0] = os.getpid()
        subprocess.run([PYTHON, "-S", "-c", "import os\ndef f(x):\n    pass\nlist(map(f, 'abc'))"])
        for name, n in sorted(prog["calls"].items(), key=lambda kv: -kv[1].value)[:5]:
            print(f"{n.value:4d} {name.value.decode()}")
