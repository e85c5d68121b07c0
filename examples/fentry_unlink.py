"""fentry / fexit / lsm: BTF-typed arguments (ctx.dfd, ctx.ret).  Kernels that refuse BPF
trampolines (this one answers EPERM) compile these programs and say why they cannot load."""
from pybpf_dsl import fentry, fexit, load, lsm
from pybpf_dsl.errors import NotSupported
from pybpf_dsl.lower import compile_programs
from pybpf_dsl.maps import ArrayMap
from pybpf_dsl.types import u64

last = ArrayMap[u64](max_entries=2)

@fentry("do_unlinkat")
def on_unlink(ctx) -> int:
    last[0] = ctx.dfd
    return 0

@fexit("do_unlinkat")
def on_unlink_ret(ctx) -> int:
    last[1] = ctx.ret
    return 0

@lsm("file_open")
def on_file_open(ctx) -> int:
    return 0                                     # 0: allow

print("compiled:", len(compile_programs(on_unlink, on_unlink_ret, on_file_open).elf), "bytes")
for probe in (on_unlink, on_unlink_ret, on_file_open):
    try:
        with load(probe) as prog:
            print(probe.name, "attached")
    except NotSupported as e:
        print(probe.name, "cannot load:", e)
