"""The LLVM worker: only BPF registered, framing, the module view the checks walk, and its lifecycle."""

import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings, strategies as st

from pybpf_dsl import bpf_function
from pybpf_dsl.errors import CompileError
from pybpf_dsl.lower import backend, compile_programs, pipeline
from pybpf_dsl.types import u32, u64

from .harness import entry_program, kernel_runner


def _python(code: str, directory) -> subprocess.CompletedProcess:
    """Run ``code`` as a script file (the DSL reads its functions' source) in a fresh interpreter."""
    script = directory / "script.py"
    script.write_text(textwrap.dedent(code))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)


@bpf_function
def mix(a: u64, b: u32) -> u64:
    acc: u64 = a
    for i in range(4):
        acc = acc * 31 + (b >> i)
    return acc


def test_worker_registers_only_the_bpf_target(tmp_path):
    out = _python(f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("pipeline", {pipeline.__file__!r})
        p = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(p)
        from llvmlite.binding import ffi
        assert p._bpf_init_functions(ffi.lib._lib) is not None, "BPF initialisers not found"
        p.target_machine()
        import llvmlite.binding as llvm
        try:
            llvm.Target.from_triple("x86_64-unknown-linux-gnu")
        except RuntimeError:
            print("only-bpf")
    """, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "only-bpf"


def test_missing_symbols_fall_back_to_every_target(tmp_path):
    class Lib:
        _name = "/proc/self/exe"            # an ELF without LLVM's BPF initialisers
    assert pipeline._bpf_init_functions(Lib()) is None
    Lib._name = str(tmp_path / "absent.so")
    assert pipeline._bpf_init_functions(Lib()) is None
    (tmp_path / "junk.so").write_bytes(b"not an ELF file at all" * 4)
    Lib._name = str(tmp_path / "junk.so")
    assert pipeline._bpf_init_functions(Lib()) is None


def _worker_script(cache_dir, lookup: bool) -> str:
    """A worker-like ``python -I -S`` run: trimmed imports, BPF registered through the symbol cache."""
    import llvmlite
    site = os.path.dirname(os.path.dirname(llvmlite.__file__))
    return f"""
import importlib.util, sys
sys.path.insert(0, {site!r})
spec = importlib.util.spec_from_file_location("pipeline", {pipeline.__file__!r})
p = importlib.util.module_from_spec(spec)
spec.loader.exec_module(p)
p._cache_dir = {str(cache_dir)!r}
p.load_llvmlite(None)           # llvmlite's own file: the lean layout has tests of its own
{"" if lookup else "p._lookup = None   # the symbol table must not be read: the cache answers"}
code = p.emit("define i64 @f(i64 %a) {{ %b = add i64 %a, 1\\n ret i64 %b }}", "object")
assert code[:4] == b"\\x7fELF", code[:4]
from llvmlite.binding import targets
try:
    targets.Target.from_triple("x86_64-unknown-linux-gnu")
except RuntimeError:
    print("only-bpf")
print(" ".join(sorted(n for n in sys.modules if n.startswith("llvmlite"))))
"""


def test_worker_reuses_the_symbol_cache_and_imports_only_what_it_uses(tmp_path):
    cache_dir = tmp_path / "cache"
    for lookup in (True, False):
        out = subprocess.run([sys.executable, "-I", "-S", "-c", _worker_script(cache_dir, lookup)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        only_bpf, modules = out.stdout.splitlines()
        assert only_bpf == "only-bpf"
        assert "llvmlite.binding.module" in modules.split()
        assert not {"llvmlite.binding.orcjit", "llvmlite.binding.executionengine",
                    "llvmlite.binding.object_file"} & set(modules.split())
        assert [f.name.startswith("llvm-bpf-init-") for f in cache_dir.iterdir()] == [True]


def test_stale_or_wrong_cached_symbols_are_not_trusted(tmp_path):
    import ctypes
    pipeline.target_machine()                      # llvmlite loaded in this process (as in the test above)
    from llvmlite.binding import ffi
    lib = ffi.lib._lib
    fresh = pipeline._bpf_init_functions(lib)
    assert fresh is not None
    path = os.fsencode(lib._name)
    st_ = os.stat(path)
    bogus = dict.fromkeys(pipeline._BPF_INIT, 0x10)                    # not code
    pipeline._store(str(tmp_path), path, st_, bogus)
    again = pipeline._bpf_init_functions(lib, str(tmp_path))
    addr = [ctypes.cast(f, ctypes.c_void_p).value for f in again]
    assert addr == [ctypes.cast(f, ctypes.c_void_p).value for f in fresh]
    assert pipeline._cached(str(tmp_path), path, st_) != bogus          # replaced by what was found


def test_cached_symbols_are_keyed_by_path_size_mtime_and_inode(tmp_path):
    lib = tmp_path / "lib.so"
    lib.write_bytes(b"x" * 100)
    path, st_ = os.fsencode(lib), os.stat(lib)
    found = {n: 0x1000 + i for i, n in enumerate(pipeline._BPF_INIT)}
    pipeline._store(str(tmp_path / "c"), path, st_, found)
    assert pipeline._cached(str(tmp_path / "c"), path, st_) == found
    assert pipeline._cached(str(tmp_path / "c"), path + b"x", st_) is None
    assert pipeline._cached(None, path, st_) is None
    os.utime(lib, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1))
    assert pipeline._cached(str(tmp_path / "c"), path, os.stat(lib)) is None
    lib.write_bytes(b"x" * 101)
    assert pipeline._cached(str(tmp_path / "c"), path, os.stat(lib)) is None
    (tmp_path / "plain").write_text("")
    pipeline._store(str(tmp_path / "plain" / "c"), path, st_, found)    # cannot be created: skipped
    pipeline._store(str(tmp_path / "plain"), path, st_, found)          # not a directory: skipped
    assert [f.name for f in (tmp_path / "c").iterdir()] == [pipeline._cache_file("", st_)[0]]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_a_garbled_symbol_cache_reads_as_absent_or_as_numbers(content):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        lib = os.path.join(d, "lib.so")
        open(lib, "wb").close()
        st_ = os.stat(lib)
        with open(pipeline._cache_file(d, st_)[0], "wb") as f:
            f.write(content)
        got = pipeline._cached(d, os.fsencode(lib), st_)
        assert got is None or all(isinstance(v, int) for v in got.values())


def test_the_worker_is_given_the_cache_directory():
    from pybpf_dsl.cache import cache_dir
    compile_programs(entry_program(mix))
    with open(f"/proc/{backend._worker.pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert argv[-2:] == [os.fsencode(cache_dir()), b""]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from([b"O", b"E", b"S", b"+", b"!"]), st.binary(max_size=60_000), st.data())
def test_frames_round_trip_and_a_cut_frame_reads_as_eof(tag, payload, data):
    frame = tag + len(payload).to_bytes(4, "little") + payload
    cut = data.draw(st.integers(0, len(frame) - 1))
    r, w = os.pipe()
    try:
        pipeline.write_frame(w, tag, payload)
        assert pipeline.read_frame(r) == (tag, payload)
        os.write(w, frame[:cut])
        os.close(w)
        w = -1
        assert pipeline.read_frame(r) is None
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


IR = textwrap.dedent('''\
    target triple = "bpfel"

    declare void @ext(ptr)

    define internal i64 @"helper.1"(i64 %x) noinline {
    entry:
      %r = add i64 %x, 1
      ret i64 %r
    }

    define i32 @prog(ptr %ctx) section "syscall" {
    entry:
      %buf = alloca [64 x i8], align 8
      %"odd name" = alloca i64, align 8
      call void @llvm.memset.p0.i64(ptr align 8 %buf, i8 0, i64 64, i1 false)
      %v = tail call i64 @"helper.1"(i64 3)
      store i64 %v, ptr %"odd name", align 8
      call void @ext(ptr %buf)
      br label %next

    next:
      ret i32 0
    }

    declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)
    ''')


def test_module_view_matches_llvmlite():
    import llvmlite.binding as llvm
    pipeline.target_machine()
    ref = llvm.parse_assembly(IR)

    def shape(mod):
        return [(f.name, f.is_declaration,
                 [(i.opcode, str(i).strip()) for b in f.blocks for i in b.instructions
                  if i.opcode in ("alloca", "call")])
                for f in mod.functions]
    assert shape(backend.OptimisedModule(str(ref))) == shape(ref)


def test_user_process_never_maps_llvm(tmp_path):
    out = _python("""
        import sys
        from pybpf_dsl import bpf_function
        from pybpf_dsl.types import u64
        from pybpf_dsl.lower import compile_programs
        from tests.dsl.harness import entry_program

        @bpf_function
        def inc(a: u64) -> u64:
            return a + 1

        obj = compile_programs(entry_program(inc))
        assert obj.elf[:4] == b"\\x7fELF" and "syscall" in obj.assembly()
        maps = open("/proc/self/maps").read()
        print("llvmlite.binding" in sys.modules, "libllvmlite" in maps)
    """, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_a_killed_worker_is_replaced_and_results_stay_right():
    with kernel_runner(mix) as run:
        first = run(7, 9)
    w = backend._worker
    assert w is not None and not w.exited()
    os.kill(w.pid, 9)
    os.waitid(os.P_PID, w.pid, os.WEXITED | os.WNOWAIT)      # dead, not yet reaped
    with kernel_runner(mix) as run:
        assert run(7, 9) == first == mix(7, 9)
    assert backend._worker is not w and w.status == -9


def test_a_worker_dying_on_a_request_twice_is_a_compile_error(monkeypatch):
    real = pipeline.write_frame

    def kill_then_write(fd, tag, payload):
        pid = backend._worker.pid
        os.kill(pid, 9)
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        real(fd, tag, payload)
    monkeypatch.setattr(pipeline, "write_frame", kill_then_write)
    with pytest.raises(CompileError, match="LLVM's BPF backend failed"):
        compile_programs(entry_program(mix))
    monkeypatch.undo()
    assert compile_programs(entry_program(mix)).elf[:4] == b"\x7fELF"


def test_idle_worker_exits():
    r, w = os.pipe()
    try:
        assert pipeline.serve(r, w, idle=0.05) == pipeline.IDLE_EXIT
        os.close(w)
        w = -1
        assert pipeline.serve(r, -1, idle=5) == 0      # EOF: the user's process has gone
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_shutdown_reaps_the_worker_and_the_next_compile_starts_one():
    compile_programs(entry_program(mix))
    w = backend._worker
    backend.shutdown()
    assert w.status == 0
    with pytest.raises(ProcessLookupError):
        os.kill(w.pid, 0)
    assert compile_programs(entry_program(mix)).elf[:4] == b"\x7fELF"
    assert backend._worker is not w and not backend._worker.exited()


def test_a_forked_child_compiles_with_its_own_worker():
    compile_programs(entry_program(mix))
    parent_worker = backend._worker
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            ok = compile_programs(entry_program(mix)).elf[:4] == b"\x7fELF" and backend._worker is not parent_worker
            backend.shutdown()
        finally:
            os._exit(0 if ok else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert backend._worker is parent_worker and not parent_worker.exited()
    assert compile_programs(entry_program(mix)).elf[:4] == b"\x7fELF"


@pytest.fixture
def fresh_worker(monkeypatch):
    """No worker running before the test; the one it leaves (maybe started oddly) ended after it."""
    backend.shutdown()
    yield monkeypatch
    monkeypatch.undo()
    backend.shutdown()


def _worker_argv() -> list[bytes]:
    with open(f"/proc/{backend._worker.pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")[:-1]


def test_cache_off_keeps_the_worker_out_of_the_cache_directory(fresh_worker, tmp_path, cache_home):
    fresh_worker.setenv("XDG_CACHE_HOME", str(tmp_path / "off"))
    fresh_worker.setenv("PYBPF_DSL_CACHE", "0")
    assert compile_programs(entry_program(mix)).elf[:4] == b"\x7fELF"
    assert len(_worker_argv()) == 5 and not (tmp_path / "off").exists()
    backend.shutdown()
    fresh_worker.setenv("XDG_CACHE_HOME", str(cache_home))
    fresh_worker.setenv("PYBPF_DSL_CACHE", "1")
    compile_programs(entry_program(mix))
    assert _worker_argv()[-1] == os.fsencode(cache_home / "pybpf_dsl")
    assert sorted(p.name.rsplit("-", 2)[0] for p in (cache_home / "pybpf_dsl").iterdir()) == ["llvm-bpf-init", "llvm-layout"]


def _script(tmp_path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("make,said", [
    (lambda d: "", "is empty"),
    (lambda d: str(d / "absent"), "is not an executable file"),
    (lambda d: "/bin/true", "(exited)"),
    (lambda d: _script(d, "junk", "echo 'Usage: host [options]'; exec cat >/dev/null"), "(wrote something else)"),
    (lambda d: _script(d, "old", "echo \"ModuleNotFoundError: No module named 'llvmlite'\" >&2; exit 1"),
     "(exited: ModuleNotFoundError: No module named 'llvmlite')"),
    (lambda d: _script(d, "mute", "exec sleep 30"), "(did not answer within 0.3 s)"),
], ids=["empty", "absent", "exits", "junk", "stderr", "silent"])
def test_an_unusable_interpreter_is_one_compile_error_line(fresh_worker, tmp_path, make, said):
    python = make(tmp_path)
    fresh_worker.delenv("PYBPF_DSL_PYTHON", raising=False)
    fresh_worker.setattr(sys, "executable", python)
    fresh_worker.setattr(backend, "_START_TIMEOUT", 0.3)
    with pytest.raises(CompileError) as err:
        compile_programs(entry_program(mix))
    text = str(err.value)
    assert text.startswith(f"cannot start the DSL's LLVM worker: sys.executable ({python!r}) ")
    assert said in text and "set PYBPF_DSL_PYTHON=/path/to/python3" in text and "\n" not in text
    w = backend._worker
    assert w is None or (w.status is not None and w.err == -1)     # ended, reaped, nothing kept open


def test_pybpf_dsl_python_selects_the_workers_interpreter(fresh_worker):
    real = sys.executable
    fresh_worker.setattr(sys, "executable", "")
    fresh_worker.setenv("PYBPF_DSL_PYTHON", real)
    with kernel_runner(mix) as run:
        assert run(7, 9) == mix(7, 9)
    assert _worker_argv()[0] == os.fsencode(real)
    fresh_worker.setenv("PYBPF_DSL_PYTHON", "/bin/true")
    backend.shutdown()
    with pytest.raises(CompileError, match=r"PYBPF_DSL_PYTHON \('/bin/true'\) is not a Python"):
        compile_programs(entry_program(mix))


def test_a_bad_interpreter_does_not_break_import(tmp_path):
    script = tmp_path / "embedded.py"
    script.write_text(textwrap.dedent("""
        from pybpf_dsl import bpf_function
        from pybpf_dsl.errors import CompileError
        from pybpf_dsl.lower import compile_programs
        from pybpf_dsl.types import u64
        from tests.dsl.harness import entry_program

        @bpf_function
        def inc(a: u64) -> u64:
            return a + 1

        try:
            compile_programs(entry_program(inc))
        except CompileError as e:
            print(e)
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), PYBPF_DSL_PYTHON="/nonexistent")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["cannot start the DSL's LLVM worker: PYBPF_DSL_PYTHON ('/nonexistent') "
                                       "is not an executable file (set PYBPF_DSL_PYTHON=/path/to/python3, "
                                       "a Python that can import llvmlite)"]
