"""kprobe / kretprobe / syscall (bcc's syscall__): typed arguments from registers.
Kernels without CONFIG_KPROBES load these programs but cannot attach them: the example says why."""
from pybpf_dsl import bpf, kprobe, kretprobe, load, syscall
from pybpf_dsl.errors import NotSupported
from pybpf_dsl.kernel import sock
from pybpf_dsl.maps import HashMap
from pybpf_dsl.types import Array, Ptr, char, s64, u32, u64

sent = HashMap[u32, u64](max_entries=1024)
opened = HashMap[Array[char, 64], u64](max_entries=1024)

@kprobe("tcp_sendmsg")
def on_send(ctx, sk: Ptr[sock], msg: u64, size: u64) -> int:
    if sk.__sk_common.skc_family == 2:          # AF_INET; offsets from the running kernel's BTF
        sent[bpf.tgid()] += size
    return 0

@kretprobe("tcp_sendmsg")
def on_send_ret(ctx, ret: s64) -> int:
    return 0

@syscall("openat")                               # attaches to __x64_sys_openat
def on_openat(ctx, dfd: s64, filename: Ptr[char, "user"]) -> int:
    name = Array[char, 64]()
    bpf.probe_read_user_str(name, filename)
    opened[name] += 1
    return 0

try:
    with load(on_send, on_send_ret, on_openat) as prog:
        print("attached:", list(prog.links))
except NotSupported as e:
    print("cannot attach:", e)
    with load(on_send, on_send_ret, on_openat, attach=False) as prog:
        print("loaded without attaching:", sorted(prog.programs))
