"""Run a snippet under the system's bcc (Debian python3-bpfcc) for side-by-side figures.

bcc is installed for /usr/bin/python3, not for the interpreter running the
benchmarks, so bcc measurements run in a child process.  bcc 0.26 needs kernel
headers: BCC_KERNEL_SOURCE points at a 6.1 header tree assembled as
../shared/notes/kernel-facts.md describes (/opt/bcc-kernel-src by default).
Its struct offsets are wrong on this kernel, so use it for speed only.
``PYBPF_BENCH_BCC=0`` skips bcc's side (CI): every benchmark then prints its
recorded reference figures, labelled, as on a machine without bcc.
"""

from __future__ import annotations

import json
import os
import subprocess

SYSTEM_PYTHON = "/usr/bin/python3"
KERNEL_SOURCE = os.environ.get("BCC_KERNEL_SOURCE", "/opt/bcc-kernel-src")


def available() -> bool:
    """True when bcc's side is wanted (``PYBPF_BENCH_BCC`` is not 0), the system Python can
    import bcc and a header tree exists."""
    if os.environ.get("PYBPF_BENCH_BCC", "1") in ("0", "no", "off"):
        return False
    if not (os.path.exists(SYSTEM_PYTHON) and os.path.isdir(KERNEL_SOURCE)):
        return False
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import bcc"], capture_output=True)
    return probe.returncode == 0


def run(snippet: str, timeout: float = 600) -> dict:
    """Run ``snippet`` under bcc; it must print one JSON object as its last line."""
    env = dict(os.environ, BCC_KERNEL_SOURCE=KERNEL_SOURCE)
    out = subprocess.run([SYSTEM_PYTHON, "-c", snippet], capture_output=True, text=True,
                         env=env, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"bcc snippet failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
