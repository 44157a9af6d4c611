"""Keeping secrets out of logs, errors and the state store.

Every secret the library learns (a connection's password) is registered here.
``install()`` puts redaction where every log record of the process is made (the
log record factory), so no logger at any level shows a registered secret: ours,
py4j (which logs each command it sends the JVM at DEBUG, a JDBC password among
them), botocore, urllib3 or any other. ``redact()`` is applied to error texts
before they are stored or shown.
"""

from __future__ import annotations

import logging
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "***"


def register(*secrets: str | None) -> None:
    """Know a secret from now on; the first one also turns on redaction in every logger."""
    with _lock:
        _secrets.update(s for s in secrets if s and len(s) >= 3)
        known = bool(_secrets)
    if known:
        _redact_every_record()


def redact(text: str) -> str:
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _redacted_record(record: logging.LogRecord) -> logging.LogRecord:
    with _lock:
        if not _secrets:
            return record
    try:
        message = record.getMessage()
    except Exception:  # a record whose arguments do not format: leave it to the handler
        return record
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        # a traceback can carry the secret too (an exception's message): format it now, redacted
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    return record


def install() -> None:
    """Redact every log record of the process, whichever logger makes it (idempotent)."""
    _redact_every_record()


def _redact_every_record() -> None:
    with _lock:
        current = logging.getLogRecordFactory()
        if getattr(current, "_loader_redacts", False):
            return

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            return _redacted_record(current(*args, **kwargs))

        factory._loader_redacts = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
