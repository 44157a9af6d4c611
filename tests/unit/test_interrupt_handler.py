"""The interrupt handling (loader/interrupt.py) with real signals sent to this process, no servers."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest

from loader import interrupt
from loader.errors import Interrupted, LoaderError


def test_outside_a_load_a_signal_raises_interrupted_at_once() -> None:
    with pytest.raises(Interrupted) as info, interrupt.guard():
        os.kill(os.getpid(), signal.SIGINT)
        threading.Event().wait(5)  # the handler raises while this waits
    assert isinstance(info.value, KeyboardInterrupt) and isinstance(info.value, LoaderError)
    assert info.value.exit_code == 130 and str(info.value) == "interrupted (SIGINT)"
    assert interrupt.requested() is None  # forgotten once the outermost call returned


def test_during_a_load_the_signal_only_asks_and_the_watcher_cancels() -> None:
    handler_before = signal.getsignal(signal.SIGINT)
    cancelled = threading.Event()
    with interrupt.guard(), interrupt.loading(), interrupt.on_interrupt(cancelled.set):
        os.kill(os.getpid(), signal.SIGINT)
        assert cancelled.wait(5), "the watcher did not run the cancel action"
        assert interrupt.requested() == signal.SIGINT
        with pytest.raises(Interrupted):
            interrupt.check()
        with pytest.raises(Interrupted):  # a second Ctrl-C does not wait for the load
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(5)
    assert signal.getsignal(signal.SIGINT) is handler_before and interrupt.requested() is None


def test_what_a_failure_really_was() -> None:
    assert interrupt.stopped_by(RuntimeError("x")) is None
    stop = interrupt.stopped_by(KeyboardInterrupt())
    assert stop is not None and stop.reason == "interrupted (SIGINT)"
    term = Interrupted(signal.SIGTERM).add("public.t unchanged")
    assert interrupt.stopped_by(term) is term and term.exit_code == 143
    assert str(term) == "interrupted (SIGTERM); public.t unchanged"


def test_a_cli_command_gives_the_signal_handling_back(tmp_path: Any) -> None:
    """cli.main run inside another program (a test run, a scheduler's Python task) leaves that
    program's SIGINT and SIGTERM handling, and no interruption state, behind it."""
    from loader import cli

    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    assert cli.main(["--state-url", f"sqlite:///{tmp_path / 'state.db'}", "status"]) == 0
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    test_outside_a_load_a_signal_raises_interrupted_at_once()  # the library's handling still resets


def _hold_the_watcher(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Hold the watcher between reading a signal's byte and acting on it, until ``release`` is set."""
    held, release = threading.Event(), threading.Event()

    def hold(data: bytes) -> None:
        if any(b in interrupt.STOPS for b in data) and not held.is_set():
            held.set()
            release.wait(10)

    monkeypatch.setattr(interrupt, "_watcher_read", hold)
    return held, release


def test_a_signal_the_watcher_acts_on_late_is_not_left_for_the_next_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """The race behind the flaky test: the second Ctrl-C ends the load at once while the watcher has
    not yet acted on the signals' bytes. It used to act after the scope had forgotten the request and
    set it again, so the next load's ordinary failure was taken for an interruption."""
    held, release = _hold_the_watcher(monkeypatch)
    with pytest.raises(Interrupted), interrupt.guard(), interrupt.loading():
        os.kill(os.getpid(), signal.SIGINT)
        assert held.wait(5), "the watcher never read the signal's byte"
        threading.Timer(0.3, release.set).start()  # let it go while the scope is ending
        os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C raises at once
        threading.Event().wait(5)
    assert release.wait(5)
    deadline = threading.Event()
    for _ in range(20):  # give a late watcher every chance to set the request again
        if interrupt.requested() is not None:
            break
        deadline.wait(0.05)
    assert interrupt.requested() is None
    assert interrupt.stopped_by(RuntimeError("the next load's own failure")) is None
    with interrupt.guard(), interrupt.loading():
        interrupt.check()  # the next load runs


def test_a_signal_after_the_load_is_the_processs_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the scope has ended, SIGINT goes to the handler the process had before (Python's raises a
    plain KeyboardInterrupt) and nothing of it is left for the next load."""
    with interrupt.guard(), interrupt.loading():
        pass
    with pytest.raises(KeyboardInterrupt) as info:
        os.kill(os.getpid(), signal.SIGINT)
        threading.Event().wait(5)
    assert type(info.value) is KeyboardInterrupt
    threading.Event().wait(0.2)  # the watcher had its chance at the byte, if it got one
    assert interrupt.requested() is None
    with interrupt.guard(), interrupt.loading():
        interrupt.check()
