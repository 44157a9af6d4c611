"""Keeping secrets out of logs, errors and the state store.

Every secret the library learns (a connection's password) is registered here;
a logging filter on the ``loader`` logger and ``redact()`` (used before an
error text is stored or shown) replace each with ``***``.
"""

from __future__ import annotations

import logging
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "***"


def register(*secrets: str | None) -> None:
    with _lock:
        _secrets.update(s for s in secrets if s and len(s) >= 3)


def redact(text: str) -> str:
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install(logger_name: str = "loader") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
