"""The clean-up mechanism: SIGTERM as an interruption, deferred signals, processes stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from stream.runs.lifecycle import Lifecycle, stop_processes
from stream.signals import Terminated, deferred_signals, exit_code


def _sleeper(*, ignore_term: bool = False) -> subprocess.Popen[bytes]:
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('ready', flush=True)\ntime.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


def _wait_for_signal() -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.01)
    pytest.fail("no interruption within 5 s")


def test_sigterm_runs_the_clean_up_and_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    proc = _sleeper()
    stopped = []
    with pytest.raises(Terminated) as caught, Lifecycle() as life:
        life.callback(stopped.append, "services")
        life.callback(lambda: stop_processes([proc], grace=5))
        os.kill(os.getpid(), signal.SIGTERM)
        _wait_for_signal()
    assert isinstance(caught.value, KeyboardInterrupt)
    assert exit_code(caught.value) == 143
    assert proc.poll() == -signal.SIGTERM and stopped == ["services"]
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigint_is_a_keyboard_interrupt_with_exit_code_130() -> None:
    with pytest.raises(KeyboardInterrupt) as caught, Lifecycle():
        os.kill(os.getpid(), signal.SIGINT)
        _wait_for_signal()
    assert not isinstance(caught.value, Terminated)
    assert exit_code(caught.value) == 130


def test_a_deferred_signal_is_raised_when_the_step_is_done() -> None:
    steps = []
    with pytest.raises(Terminated), Lifecycle():
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
            steps.append("recorded")  # the start and its record are never split
        steps.append("after")
    assert steps == ["recorded"]


def test_a_signal_during_clean_up_does_not_cut_it_short() -> None:
    done = []

    def slow_cleanup() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        done.append("finished")

    with pytest.raises(KeyboardInterrupt), Lifecycle() as life:
        life.callback(done.append, "earlier")
        life.callback(slow_cleanup)
    assert done == ["finished", "earlier"]


def test_a_worker_ignoring_sigterm_is_killed_after_the_grace_period() -> None:
    proc = _sleeper(ignore_term=True)
    begin = time.monotonic()
    assert stop_processes([proc], grace=0.5) == [-signal.SIGKILL]
    assert time.monotonic() - begin < 5


def test_without_a_lifecycle_signals_are_not_held() -> None:
    # A test run started in the background (nohup, `cmd &` in a script) inherits SIGINT
    # ignored; Python's own handler is what a command normally has.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
            _wait_for_signal()
    finally:
        signal.signal(signal.SIGINT, previous)
