"""Ctrl-C and SIGTERM during a load: stop it where it stands, roll back, record, say so in one line.

Python's default SIGINT handler (and PySpark's, which also calls into the JVM from inside the
handler) raises ``KeyboardInterrupt`` at whatever bytecode the main thread runs: inside psycopg2's
``copy_expert`` reading a part (psycopg2 then reports a failed COPY and the interruption is lost),
inside a py4j socket read (the handler's own py4j call then re-enters it: "reentrant call inside
BufferedReader"). So while a load runs, the handler here raises nothing: it records the signal, and a
watcher thread runs what stops the blocked calls (cancel the Spark jobs, cancel the PostgreSQL
statement). The watcher is woken through ``signal.set_wakeup_fd``, written by the C-level handler at
once: Python runs its handlers only between bytecodes, so a main thread blocked in libpq (an index
build, a merge) would otherwise not see the signal until the statement ends. The blocked call then fails in its ordinary way, the load unwinds through its
ordinary failure path (rollback, staging thread cancelled), and the engine, seeing that an
interruption was asked for, records and raises ``Interrupted`` instead of the error it unwound with
(``stopped_by``). Outside a load (reading manifests, starting Spark) there is nothing to unwind:
the handler raises ``Interrupted`` at once, as a second Ctrl-C always does.

The CLI installs the handler for SIGINT and SIGTERM for the whole command (``installed``); the library
entry points install it for SIGINT only, for the duration of the call, and only over Python's or
PySpark's default handler (``guard``): a process's own SIGTERM or SIGINT handling is left alone.

An interruption belongs to the scope (the outermost ``guard`` or ``installed``) it was asked during.
When the scope ends, its signal handling is handed back in this order (``_end_scope``): the
previous handler first (from then on a signal is the process's own business), then the wakeup fd
(no new bytes for the watcher), then a flush: a marker byte is written behind whatever the watcher
has not read yet and the scope waits until the watcher has acted on everything before it; only then
is the request forgotten. Without the flush a signal byte the watcher had not yet read (or had read
but not yet acted on) set the request again after the scope had reset it, and the next load treated
its ordinary failures as interruptions. A watcher acting while no scope is open drops the byte.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .errors import Interrupted

STOPS = (signal.SIGINT, signal.SIGTERM)

_lock = threading.Lock()
_requested: int | None = None  # the signal that asked the loads to stop
_seen = 0  # signals the Python-level handler ran for (the second one raises at once)
_loads = 0  # loads in progress, which stop by themselves once asked (the handler must not raise)
_depth = 0  # nested guard() calls
_permanent = False  # installed by a CLI command: guard() neither restores nor resets
_actions: dict[int, Callable[[], None]] = {}
_tokens = itertools.count()
_wakeup: tuple[socket.socket, socket.socket] | None = None  # (read end, write end)
_wakeup_fd_ours = False
_FLUSH = 0  # not a signal number: the byte ``_end_scope`` writes to learn the watcher caught up
_flushed = threading.Condition(_lock)
_flushes_seen = 0  # flush bytes the watcher has acted on
_flushes_sent = 0
# Test seam: called by the watcher after it read bytes and before it acts on them (holds it there)
_watcher_read: Callable[[bytes], None] | None = None


def requested() -> int | None:
    """The signal that asked the load to stop, or None."""
    return _requested


def check() -> None:
    """Raise ``Interrupted`` if an interruption was asked for (called where a load can stop)."""
    if _requested is not None:
        raise Interrupted(_requested)


def stopped_by(exc: BaseException) -> Interrupted | None:
    """The ``Interrupted`` a failure really is: ours, any error a load unwound with after an
    interruption was asked for (a cancelled Spark job, a cancelled COPY), or a ``KeyboardInterrupt``
    raised by a handler other than ours. None for an ordinary failure."""
    if isinstance(exc, Interrupted):
        return exc
    if _requested is not None:
        return Interrupted(_requested)
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted(signal.SIGINT)
    return None


@contextlib.contextmanager
def installed(signals: tuple[int, ...] = STOPS) -> Iterator[None]:
    """For a CLI command (``cli.main``): SIGINT and SIGTERM stop the load the same way. The
    handlers and the state are given back when the command returns, so ``cli.main`` called inside
    another program (a test run, a scheduler's Python task) leaves its signal handling as it was."""
    global _permanent
    _permanent = True
    _start_watcher()
    previous = {signum: signal.signal(signum, _handler) for signum in signals}
    try:
        yield
    finally:
        _end_scope(lambda: [signal.signal(signum, handler) for signum, handler in previous.items()])


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """A library entry point: Ctrl-C stops its loads cleanly. Takes over SIGINT for the call when it
    may (main thread, Python's or PySpark's handler: PySpark sets its own whenever a SparkContext
    starts, so each entry looks again); an interruption is forgotten when the outermost call returns,
    so the next call in the same process (a notebook cell run again) runs."""
    global _depth
    with _lock:
        _depth += 1
        outermost = _depth == 1
    previous: Any = None
    if _replaceable():
        _start_watcher()
        previous = signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        if _permanent or not outermost:
            if previous is not None and not _permanent:
                signal.signal(signal.SIGINT, previous)
            with _lock:
                _depth -= 1
        else:
            _end_scope(lambda: previous is not None and signal.signal(signal.SIGINT, previous))


def _end_scope(restore: Callable[[], object]) -> None:
    """Hand the signal handling back and forget the scope's interruption, in an order no signal can
    slip through (see the module's docstring). Each step runs even if the process's own handler,
    restored first, raises ``KeyboardInterrupt`` during a later one (it is then the caller's)."""
    global _depth, _permanent, _requested, _seen
    try:
        restore()
    finally:
        try:
            _release_wakeup_fd()
        finally:
            try:
                _flush_watcher()
            finally:
                with _lock:
                    _requested, _seen = None, 0
                    if _permanent:
                        _permanent = False
                    else:
                        _depth -= 1


def _flush_watcher(timeout: float = 5.0) -> None:
    """Wait until the watcher has acted on every byte written before this call."""
    global _flushes_sent
    if _wakeup is None:
        return
    with _lock:
        _flushes_sent += 1
        target = _flushes_sent
    try:
        _wakeup[1].send(bytes([_FLUSH]))
    except OSError:
        return  # the buffer is full of signal bytes: the watcher is far behind, nothing to wait for
    with _flushed:
        _flushed.wait_for(lambda: _flushes_seen >= target, timeout)


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """One load in progress: it stops by itself when asked (the handler only asks)."""
    global _loads
    check()
    with _lock:
        _loads += 1
    try:
        yield
    finally:
        with _lock:
            _loads -= 1


@contextlib.contextmanager
def on_interrupt(action: Callable[[], None]) -> Iterator[None]:
    """Run ``action`` (from the watcher thread) if an interruption comes during the block: what
    makes a blocked call return (``conn.cancel``, cancelling Spark jobs). Must be thread-safe."""
    token = next(_tokens)
    with _lock:
        _actions[token] = action
    try:
        check()  # after registering: an interruption either runs the action or is seen here
        yield
    finally:
        with _lock:
            _actions.pop(token, None)


def _replaceable() -> bool:
    if threading.current_thread() is not threading.main_thread():
        return False  # only the main thread may set handlers (and only it gets signals)
    current = signal.getsignal(signal.SIGINT)
    return current is signal.default_int_handler or getattr(current, "__module__", "").startswith("pyspark")


def _handler(signum: int, frame: Any) -> None:
    global _seen
    global _requested
    _seen += 1
    if not _wakeup_fd_ours and _wakeup is not None:
        with contextlib.suppress(OSError):  # someone else's wakeup fd: wake the watcher ourselves
            _wakeup[1].send(bytes([signum]))
    if _requested is None:
        _requested = signum
    if _seen > 1 or _loads == 0:
        raise Interrupted(signum)  # nothing that stops by itself, or asked twice: stop now


def _start_watcher() -> None:
    """The watcher thread, and the wakeup fd when nobody else uses it (main thread only)."""
    global _wakeup, _wakeup_fd_ours
    with _lock:
        if _wakeup is None:
            _wakeup = socket.socketpair()
            _wakeup[1].setblocking(False)
            threading.Thread(target=_watch, args=(_wakeup[0],), name="loader-interrupt", daemon=True).start()
    if not _wakeup_fd_ours and threading.current_thread() is threading.main_thread():
        previous = signal.set_wakeup_fd(_wakeup[1].fileno(), warn_on_full_buffer=False)
        if previous != -1:  # an event loop's: give it back, the Python-level handler wakes us instead
            signal.set_wakeup_fd(previous)
        else:
            _wakeup_fd_ours = True


def _release_wakeup_fd() -> None:
    global _wakeup_fd_ours
    if _wakeup_fd_ours and threading.current_thread() is threading.main_thread():
        signal.set_wakeup_fd(-1)
        _wakeup_fd_ours = False


def _watch(sock: socket.socket) -> None:
    global _requested, _flushes_seen
    while True:
        data = sock.recv(64)
        if not data:
            return
        if _watcher_read is not None:
            _watcher_read(data)
        stops = [s for s in data if s in STOPS]
        # Record the request before anything is cancelled: with --parallel the loads run in worker
        # threads, whose cancelled calls can fail before the main thread's Python-level handler has
        # run, and each must see that this failure is an interruption (``stopped_by``). A byte read
        # while no scope is open belongs to none: dropped.
        with _lock:
            open_scope = _depth > 0 or _permanent
            if stops and open_scope and _requested is None:
                _requested = stops[0]
            actions = list(_actions.values()) if stops and open_scope else []
            if actions:
                _actions.clear()  # each once
        for action in actions:
            with contextlib.suppress(Exception):  # the load's own failure path reports what matters
                action()
        flushes = data.count(_FLUSH)
        if flushes:
            with _flushed:
                _flushes_seen += flushes
                _flushed.notify_all()
