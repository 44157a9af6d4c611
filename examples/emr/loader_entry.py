"""EMR Serverless entry point: ``entryPoint: s3://.../loader_entry.py``, ``entryPointArguments``
are the ``loader`` command's (``["run", "s3://my-artifacts/manifests/"]``).

spark-submit needs a file to start; this one runs the CLI of the ``loader`` package installed in
the packed environment (``spark.archives=...env.tar.gz#environment``). It lives outside the package
on purpose: run as a script, the folder of the file comes first on ``sys.path``, and inside the
package that folder's ``copy/`` would shadow the standard library's ``copy`` module.
"""

import sys

from loader.cli import main

if __name__ == "__main__":
    sys.exit(main())
