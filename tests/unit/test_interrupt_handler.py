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
