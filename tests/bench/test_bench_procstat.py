"""CPU time and RSS of a process from /proc."""

from __future__ import annotations

import os
import time

import pytest

from edgevoice.bench.procstat import (
    CpuWindow,
    ProcessGone,
    cpu_seconds,
    parse_stat_cpu,
    parse_status_rss_mb,
    rss_mb,
)

TIMEOUT = 20.0  # hang guard only


def test_utime_and_stime_are_counted_past_a_command_name_with_spaces_and_parentheses() -> None:
    # Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime(14) stime(15) ...
    text = "4242 (we ird) (name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0\n"
    assert parse_stat_cpu(text, ticks_per_s=100) == pytest.approx(3.25)


def test_rss_is_vmrss_in_megabytes() -> None:
    text = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t   78125 kB\nThreads:\t3\n"
    assert parse_status_rss_mb(text) == pytest.approx(80.0)  # 78125 KiB = 80.0 MB
    with pytest.raises(ValueError, match="VmRSS"):
        parse_status_rss_mb("Name:\tkthreadd\n")


def test_this_process_cpu_grows_with_work_and_its_rss_is_there() -> None:
    pid = os.getpid()
    window = CpuWindow(pid)
    window.start()
    before = cpu_seconds(pid)
    deadline = time.monotonic() + TIMEOUT
    while cpu_seconds(pid) <= before:  # a tick at least
        sum(range(10_000))
        assert time.monotonic() < deadline
    window.stop()
    assert window.cpu_s > 0 and window.wall_s > 0 and window.ms_per_s > 0
    assert window.percent == pytest.approx(window.ms_per_s / 10)
    assert rss_mb(pid) > 1.0


def test_a_process_that_is_gone_says_so() -> None:
    with pytest.raises(ProcessGone, match="exited"):
        cpu_seconds(999_999_999)
