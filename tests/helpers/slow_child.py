"""Run the ``loader`` CLI with each part read slowly from S3, so that a signal sent by the test lands
in the middle of a COPY load (inside psycopg2's ``copy_expert``, reading a part).

Used by tests/functional/engine/test_interrupt.py. Only the pace is patched: Spark, S3,
PostgreSQL, the state store and the signal are real.

    python -m tests.helpers.slow_child SECONDS_PER_READ loader-arguments...
"""

from __future__ import annotations

import sys
import time
from typing import Any


def main() -> None:
    delay = float(sys.argv[1])
    from loader.copy import transaction

    original = transaction.PartStream.read

    def slow_read(self: Any, size: int = -1) -> bytes:
        time.sleep(delay)
        return original(self, size)

    transaction.PartStream.read = slow_read  # type: ignore[method-assign]
    from loader.cli import main as cli_main

    sys.exit(cli_main(sys.argv[2:]))


if __name__ == "__main__":
    main()
