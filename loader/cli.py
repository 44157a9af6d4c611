"""The ``loader`` command: a thin layer over the library.

It maps arguments to library calls and prints what they return. It catches only
``LoaderError`` (our own errors: one clear line, non-zero exit); anything else
is a bug and keeps its traceback.

Exit codes: 0 success; 1 a load failed / a check failed / invalid manifests
(``validate``); 2 usage or validation errors before anything ran; 130 interrupted by SIGINT
(Ctrl-C), 143 by SIGTERM (128 + the signal, as a shell reports a process killed by it): the load
is rolled back and recorded as failed, and one line says what was kept for ``--resume``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence

from . import commands, interrupt, redact
from .errors import Interrupted, LoaderError, ManifestError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loader", description="Load Spark DataFrames into PostgreSQL, "
                                "declaratively: one YAML manifest per table.")
    p.add_argument("--state-url", help="SQLAlchemy URL of the run-state store (default: $LOADER_STATE_URL, "
                   "else ~/.local/state/loader/state.db)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="validate manifests (files or folders); exit 1 if any is invalid")
    v.add_argument("paths", nargs="+")

    r = sub.add_parser("run", help="run manifests: validate, plan, load, record")
    r.add_argument("paths", nargs="+")
    r.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this manifest")
    r.add_argument("--parallel", type=int, default=1, metavar="N", help="independent manifests at once")
    r.add_argument("--dry-run", action="store_true", help="print the plan and every problem found without "
                   "moving data (exit 1 if any); touch nothing")
    r.add_argument("--resume", action="store_true", help="continue each manifest's latest unfinished run")
    r.add_argument("--wait", action="store_true", help="wait for a table another run is loading")
    r.add_argument("--reap-before-run", action="store_true", help="reap stale prefixes of these tables first")
    r.add_argument("--json", action="store_true", help="print the outcome as JSON")
    r.add_argument("--full-refresh", action="store_true",
                   help="incremental manifests: ignore the mark, replace the table with every row from initial")
    r.add_argument("--from", dest="from_value", metavar="VALUE",
                   help="incremental manifests: load the rows whose cursor is > VALUE (instead of the mark)")

    rs = sub.add_parser("resume", help="resume one run by id")
    rs.add_argument("run_id")
    rs.add_argument("paths", nargs="*", default=[], help="its manifest file or folder (default: found by its "
                    "recorded name and hash in manifests/)")
    rs.add_argument("--wait", action="store_true")

    s = sub.add_parser("status", help="list runs, newest first")
    s.add_argument("--json", action="store_true")
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--summary", action="store_true", help="usage: COPY vs JDBC, fallbacks, rows/s, bytes")
    s.add_argument("--since", default=None, help="time window for --summary, e.g. 24h, 7d")
    s.add_argument("--wide", action="store_true", help="one line per run: do not wrap the note to the terminal")

    d = sub.add_parser("doctor", help="check that COPY is ready for manifests' targets and buckets")
    d.add_argument("paths", nargs="*")
    d.add_argument("--bucket", default=None)

    rc = sub.add_parser("recommend", help="recommended method and settings for a row count")
    rc.add_argument("--rows", type=int, required=True)
    rc.add_argument("--memory-gb", type=float, default=8, help="memory of an executor (default 8)")
    rc.add_argument("--json", action="store_true", help="the fragment, the write_to_postgres keywords and "
                    "the reasons as JSON")

    rp = sub.add_parser("reap", help="delete orphaned temp prefixes and staging tables")
    rp.add_argument("--bucket", action="append", default=[], help="bucket to reap (repeatable)")
    rp.add_argument("--prefix", default="tmp/postgres-copy", help="prefix root")
    rp.add_argument("--grace", default="6h", help="age before an unknown prefix is an orphan")
    rp.add_argument("--resume-window", default="24h", help="how long failed runs stay resumable")
    rp.add_argument("--stale-after", default="30m", help="heartbeat age after which a run is abandoned")
    rp.add_argument("--dry-run", action="store_true")
    rp.add_argument("--json", action="store_true")
    rp.add_argument("--tables", nargs="*", default=None, metavar="MANIFEST",
                    help="staging tables are reaped in the databases of the runs that left them (logging in "
                    "with PGPASSWORD or ~/.pgpass); these manifests (files or folders) add their databases "
                    "and lend them their credentials")
    return p


def _logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    os.environ.setdefault("LOADER_SPARK_LOG_LEVEL", "WARN" if args.verbose else "FATAL")
    # Spark's JVM banner and log lines: on the terminal with -v, else through logger loader.spark
    # at DEBUG (i.e. not shown); see adapters/spark._jvm_stderr
    os.environ.setdefault("LOADER_SPARK_STDERR", "inherit" if args.verbose else "log")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("loader")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    # py4j reports a call cut by the JVM's end (SIGTERM to the process group, a crashed JVM) with
    # logging.exception on the root logger, a traceback on stderr; the caller gets the error anyway
    logging.getLogger().addFilter(_not_py4j)
    redact.install()


def _not_py4j(record: logging.LogRecord) -> bool:
    return "py4j" not in record.pathname.replace("\\", "/").split("/")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _logging(args)
    # SIGINT and SIGTERM: the load stops, rolls back, is recorded; one line here
    try:
        with interrupt.installed():
            return _dispatch(args)
    except Interrupted as exc:
        _quiet_after_interrupt()
        print(redact.redact(str(exc)), file=sys.stderr)
        return exc.exit_code
    except ManifestError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1 if args.command == "validate" else 2
    except LoaderError as exc:
        print(f"error: {redact.redact(str(exc))}", file=sys.stderr)
        return exc.exit_code


def _quiet_after_interrupt() -> None:
    """The process exits now, with the JVM and py4j connections cut mid-call: py4j's complaints about
    that at exit would only bury the one line that says what happened."""
    logging.getLogger("py4j").disabled = True
    logging.getLogger("py4j.clientserver").disabled = True
    logging.getLogger("py4j.java_gateway").disabled = True


def _dispatch(args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.command == "validate":
        text, ok = commands.validate(args.paths)
        print(text, file=out if ok else sys.stderr)
        return 0 if ok else 1
    if args.command == "run":
        if args.dry_run:
            text, ok = commands.dry_run(args.paths, tuple(args.only), state_url=args.state_url,
                                        full_refresh=args.full_refresh, from_value=args.from_value)
            print(text, file=out)
            return 0 if ok else 1
        outcomes = commands.run(args.paths, state_url=args.state_url, only=tuple(args.only),
                                parallel=args.parallel, resume=args.resume, wait=args.wait,
                                reap_before_run=args.reap_before_run, live=sys.stderr.isatty(),
                                full_refresh=args.full_refresh, from_value=args.from_value)
        if args.json:
            print(json.dumps([o.__dict__ for o in outcomes], indent=2), file=out)
        else:
            print(commands.summary_table(outcomes), file=out)
        return 0 if all(o.status == "succeeded" for o in outcomes) else 1
    if args.command == "resume":
        outcome = commands.resume(args.run_id, args.paths, state_url=args.state_url, wait=args.wait)
        print(commands.summary_table([outcome]), file=out)
        return 0
    if args.command == "status":
        width = None if args.wide else shutil.get_terminal_size((120, 24)).columns
        print(commands.status(args.state_url, limit=args.limit, as_json=args.json, summary=args.summary,
                              since=args.since, width=width), file=out)
        return 0
    if args.command == "doctor":
        text, ready = commands.doctor(args.paths, bucket=args.bucket)
        print(text, file=out)
        return 0 if ready else 1
    if args.command == "recommend":
        print(commands.recommend(args.rows, args.memory_gb, as_json=args.json), file=out)
        return 0
    if args.command == "reap":
        text, ok = commands.reap(args.state_url, buckets=args.bucket, prefix=args.prefix, grace=args.grace,
                                 resume_window=args.resume_window, stale_after=args.stale_after,
                                 dry_run=args.dry_run, as_json=args.json, table_manifests=args.tables)
        print(text, file=out)
        return 0 if ok else 1
    raise AssertionError(args.command)  # argparse guarantees a known command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
