"""``python -m loader ...`` and ``spark-submit .../loader/__main__.py ...``: the CLI.

Absolute imports on purpose: spark-submit runs this file as a script.
"""

import sys

from loader.cli import main

if __name__ == "__main__":
    sys.exit(main())
