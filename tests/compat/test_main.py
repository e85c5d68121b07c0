"""``python3 -m compat_c SCRIPT``: Python scripts run as bcc tools; bcc's shell wrappers run the tool they wrap."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_SHOW = "import sys, bcc\nprint(bcc.__name__, sys.argv[1:])\n"


def _run(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "compat_c", *argv], capture_output=True, text=True,
                          timeout=60, env=env, cwd=REPO)


def _script(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def test_a_language_wrapper_runs_the_tool_it_wraps_with_its_arguments(tmp_path):
    _script(tmp_path / "ucalls", "#!/usr/bin/python3\n" + _SHOW)
    wrapper = _script(tmp_path / "javacalls", '#!/bin/bash\nlib=$(dirname $0)\n$lib/ucalls -l java "$@"\n')
    out = _run(wrapper, "-T", "5", "1234")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "compat_c.bcc ['-l', 'java', '-T', '5', '1234']"


def test_python_scripts_with_any_shebang_run(tmp_path):
    for shebang in ("#!/usr/bin/python3\n", "#!/usr/bin/env python3\n", ""):
        out = _run(_script(tmp_path / "tool", shebang + _SHOW), "x")
        assert (out.returncode, out.stdout.strip()) == (0, "compat_c.bcc ['x']"), out.stderr


@pytest.mark.parametrize("body", ['echo hello\n', 'lib=$(dirname $0)\n$lib/missing -l c "$@"\n',
                                  'lib=$(dirname $0)\n$lib/ucalls -l c "$@"; rm -rf /tmp/x\n'])
def test_other_shell_scripts_are_refused_in_one_line(tmp_path, body):
    _script(tmp_path / "ucalls", "#!/usr/bin/python3\n" + _SHOW)
    out = _run(_script(tmp_path / "tool", "#!/bin/sh\n" + body))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [f"compat_c: {tmp_path / 'tool'} is a sh script, not a bcc "
                                               "Python tool: run it directly"]


@pytest.mark.skipif(not Path("/usr/sbin/javacalls-bpfcc").exists() or not Path("/usr/sbin/ucalls").exists(),
                    reason="bcc's tools are not installed (apt-get install bpfcc-tools)")
def test_bccs_own_wrapper_reaches_ucalls():
    out = _run("/usr/sbin/javacalls-bpfcc", "-h")
    assert out.returncode == 0 and out.stdout.startswith("usage: ucalls"), out.stderr
