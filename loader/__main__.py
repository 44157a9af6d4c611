"""``python -m loader ...`` and ``spark-submit .../loader/__main__.py ...``: the CLI.

Absolute imports on purpose: spark-submit runs this file as a script. Run as a script, Python
puts this file's folder first on ``sys.path``, where the ``loader/copy`` package would shadow the
standard library's ``copy`` module: that entry goes before anything else is imported.
"""

import os
import sys

if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

from loader.cli import main  # noqa: E402 - after the sys.path fix above

if __name__ == "__main__":
    sys.exit(main())
