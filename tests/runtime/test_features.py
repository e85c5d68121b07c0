"""Kernel feature probes: answers, caching, messages, and consistency with the kernel."""

from __future__ import annotations

import errno
import os
import time

import pytest

from pybpf_dsl.errors import NotSupported
from pybpf_dsl.runtime import asm, features, syscall
from pybpf_dsl.runtime.uapi import AttachType, ProgType

pytestmark = pytest.mark.usefixtures("root")

_RET0 = asm.mov64_imm(asm.R0, 0) + asm.exit_()


def _kernel_version() -> tuple[int, int]:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


@pytest.mark.parametrize("name", sorted(features.FEATURES))
def test_every_probe_answers_a_bool_and_a_one_line_reason(name):
    answer = features.has(name)
    assert isinstance(answer, bool)
    why = features.reason(name)
    assert (why is None) == answer
    if why is not None:
        assert "\n" not in why and why


@pytest.mark.parametrize("name", sorted(n for n, f in features.FEATURES.items() if f.since))
def test_version_gated_features_present_on_new_enough_kernels(name):
    feat = features.FEATURES[name]
    if _kernel_version() < feat.since:
        pytest.skip(f"kernel older than {feat.since}")
    assert features.has(name), f"{name} reported missing on {os.uname().release}: {features.reason(name)}"


@pytest.mark.parametrize("name", ["tracepoints", "raw_tracepoints", "tp_btf", "btf", "uprobes",
                                  "iterators", "perf_event_programs"])
def test_features_the_ci_kernel_has(name):
    # kernel-facts.md: these work on every machine of this project.
    assert features.has(name), features.reason(name)


def test_probes_are_cached():
    features.clear_cache()
    t0 = time.perf_counter()
    first = features.probe_all()
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert features.probe_all() == first
    warm = time.perf_counter() - t0
    assert warm < cold and warm < 0.005
    assert cold < 1.0


def test_require_names_the_missing_kernel_feature():
    if features.has("kprobes"):
        features.require("kprobes")  # no error
        return
    with pytest.raises(NotSupported) as exc:
        features.require("kprobes")
    msg = str(exc.value)
    assert msg.startswith("this kernel does not support kprobes: CONFIG_KPROBES is off")
    assert "\n" not in msg
    assert exc.value.feature == "kprobes"
    assert isinstance(exc.value, OSError)


def test_unknown_feature_is_a_key_error_listing_known_ones():
    with pytest.raises(KeyError, match="known: .*kprobes"):
        features.has("kprobez")


def test_skip_unless_skips_with_the_reason():
    missing = [n for n in features.FEATURES if not features.has(n)]
    present = [n for n in features.FEATURES if features.has(n)]
    features.skip_unless(present[0])  # does nothing
    if not missing:
        return
    with pytest.raises(pytest.skip.Exception, match="kernel lacks"):
        features.skip_unless(missing[0])


def test_fentry_answer_matches_a_real_load():
    from pybpf_dsl.runtime.attach.fentry import kernel_func_btf_id
    fd, err, log = syscall.prog_load(ProgType.TRACING, _RET0, "GPL",
                                     expected_attach_type=AttachType.TRACE_FENTRY,
                                     attach_btf_id=kernel_func_btf_id("do_nanosleep"), log_level=1)
    if fd >= 0:
        os.close(fd)
        assert features.has("fentry")
    else:
        assert not features.has("fentry")
        assert errno.errorcode[err] in features.reason("fentry")
        with pytest.raises(NotSupported, match="fentry/fexit programs"):
            features.require("fentry")


def test_kprobe_answer_matches_sysfs_and_tracefs():
    from pybpf_dsl.runtime.tracefs import tracefs_root
    present = (os.path.isdir("/sys/bus/event_source/devices/kprobe")
               or os.path.exists(os.path.join(tracefs_root(), "kprobe_events")))
    assert features.has("kprobes") == present


def test_hardware_perf_answer_matches_the_pmu_directory():
    if not os.path.isdir("/sys/bus/event_source/devices/cpu"):
        assert not features.has("hardware_perf")
        assert "hardware PMU" in features.reason("hardware_perf")
