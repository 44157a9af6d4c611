"""Recommendations: settings for a load of a given size, and whether COPY can run here.

``get_performance_recommendations`` returns only keys that
``write_to_postgres(df, conn, **rec)`` accepts (``method`` and option names), so
its result can be passed straight through. ``get_copy_protocol_recommendation``
really checks what COPY needs (credentials, a HeadBucket on the bucket, the
database) and says for each failed check what to do; ``doctor_lines`` renders
that report for ``loader doctor``.
"""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Any

from ..adapters import pg, s3
from ..connection import ConnectionSpec
from ..destination import prepared
from ..destination.prepared_plan import prepared_readiness
from ..errors import LoaderError
from ..options import CopyOptions, JdbcOptions
from .sizing import as_call_options, recommend_settings

#: keys a recommendation may contain: write_to_postgres's ``method`` and its options
ALLOWED_KEYS = frozenset({"method"} | {f.name for f in fields(CopyOptions)} | {f.name for f in fields(JdbcOptions)})
#: checks that inform but are not needed for COPY
INFORMATIONAL = frozenset({"server_side", "parallel"})
AUTOMATIC_FEATURES = [
    "unique temp path per run: <prefix>/<table>-<epoch>-<8 hex>/ (no two runs share files)",
    "automatic cleanup of the temp S3 files after the load, success or failure",
    "fallback to optimized JDBC when S3 staging fails for an infrastructure reason",
    "bucket selection: argument, then PYSPARK_TEMP_S3_BUCKET, then the project default",
    "gzip-compressed CSV staging files",
    "atomic load: rows become visible in one transaction, or not at all",
]


def get_performance_recommendations(row_count: int, available_memory_gb: float = 8) -> dict[str, Any]:
    """Method and options for ``row_count`` rows; pass as ``write_to_postgres(df, conn, **rec)``.
    Keys: ``method``, ``num_partitions`` and, for COPY, ``rows_per_part`` and ``part_mb`` (the
    decision and each setting's reason: ``sizing.recommend_settings``)."""
    return as_call_options(recommend_settings(row_count, available_memory_gb))


def _check(ok: bool, detail: str) -> dict[str, Any]:
    return {"ok": ok, "detail": detail}


def get_copy_protocol_recommendation(s3_bucket: str | None = None, conn_params: Any = None) -> dict[str, Any]:
    """Run the checks COPY depends on; ``method`` is ``copy`` only when they pass."""
    bucket, source = s3.resolve_bucket(s3_bucket)
    return copy_readiness(bucket, source, conn_params)


def database_readiness(conn_params: Any) -> dict[str, Any]:
    """What the JDBC methods need (a reachable database), in the shape of the COPY report."""
    checks: dict[str, dict[str, Any]] = {}
    secrets: list[str | None] = []
    _database_checks(conn_params, checks, secrets)
    checks = {"database": checks["database"]}  # COPY's own checks are not what JDBC uses
    checks["database"]["detail"] = _redact(checks["database"]["detail"], secrets)
    ok = checks["database"]["ok"]
    return {"method": "jdbc" if ok else "none", "reason": "the database is reachable" if ok else
            "the database is not reachable", "checks": checks}


def copy_readiness(bucket: str, source: str, conn_params: Any = None) -> dict[str, Any]:
    """The COPY checks for ``bucket``, which came from ``source`` (said in the report)."""
    checks: dict[str, dict[str, Any]] = {}
    secrets = [os.environ.get("AWS_SECRET_ACCESS_KEY"), os.environ.get("AWS_SESSION_TOKEN")]

    has_creds = s3.credentials_present()
    checks["credentials"] = _check(True, "AWS credentials found (environment, profile or role)") if has_creds \
        else _check(False, "no AWS credentials found -> set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                           "AWS_PROFILE, or run with an instance/EMR role")

    if not has_creds:
        checks["bucket"] = _check(False, f"bucket {bucket} ({source}) not checked: no credentials "
                                         "-> fix the credentials first")
    else:
        try:
            s3.check_bucket(s3.make_client(max_attempts=2), bucket)
            checks["bucket"] = _check(True, f"bucket {bucket} ({source}) is reachable")
        except Exception as exc:  # StagingError from s3.call, or a bad endpoint/config
            why = exc.message if isinstance(exc, LoaderError) else f"{type(exc).__name__}: {exc}"
            checks["bucket"] = _check(False, f"bucket {bucket} ({source}) not accessible: {why} "
                                             "-> create it or set PYSPARK_TEMP_S3_BUCKET / copy.bucket "
                                             "to a bucket these credentials may read, write and delete in")

    if conn_params is not None:
        _database_checks(conn_params, checks, secrets)

    ready = checks["credentials"]["ok"] and checks["bucket"]["ok"] and (
        conn_params is None or checks["server_side"]["ok"] or checks["client_side"]["ok"])
    failed = [name for name, c in checks.items() if not c["ok"] and name not in INFORMATIONAL]
    for c in checks.values():
        c["detail"] = _redact(c["detail"], secrets)
    if ready:
        reason = f"COPY is ready: staging in s3://{bucket}"
        if conn_params is not None:
            reason += ", " + ("server-side import (aws_s3)" if checks["server_side"]["ok"]
                              else "client-side COPY FROM STDIN")
    else:
        reason = "COPY is not ready (" + ", ".join(failed) + " failed): optimized JDBC instead"
    return {"method": "copy" if ready else "optimized", "reason": reason,
            "automatic_features": list(AUTOMATIC_FEATURES), "checks": checks}


def _database_checks(conn_params: Any, checks: dict[str, dict[str, Any]], secrets: list[str | None]) -> None:
    try:
        spec = ConnectionSpec.parse(conn_params)
        secrets.extend(spec.secrets())
        conn = pg.connect(spec, application_name="loader:doctor", autocommit=True)
    except LoaderError as exc:
        checks["database"] = _check(False, str(exc))
        skipped = "not checked: no database connection -> fix the database check first"
        checks["server_side"] = _check(False, skipped)
        checks["client_side"] = _check(False, skipped)
        checks["parallel"] = _check(False, skipped)
        return
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            version = cur.fetchone()[0]
            checks["database"] = _check(True, f"connected to {spec.safe_description()} (PostgreSQL {version})")
            checks["server_side"] = _check(True, "aws_s3 extension present: the database imports from S3 "
                                                 "itself") if _has_aws_s3(cur) else \
                _check(False, "aws_s3 extension not installed: client-side COPY will be used "
                              "(optional on RDS/Aurora: CREATE EXTENSION aws_s3 CASCADE)")
            checks["client_side"] = _check(True, "COPY FROM STDIN over this connection (needs INSERT on the "
                                                 "target table, checked at load time)")
            checks["parallel"] = _check(*prepared_readiness(prepared.max_prepared(cur)))
    finally:
        conn.close()


def _has_aws_s3(cur: Any) -> bool:
    """Is ``aws_s3.table_import_from_s3`` there and callable by us?

    Not ``pg.has_aws_s3``: it raises when the aws_commons schema is absent and
    misses the RDS/stand-in signature whose 5th argument (credentials) has a default."""
    cur.execute(
        """SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                           WHERE n.nspname = 'aws_s3' AND p.proname = 'table_import_from_s3'
                             AND has_schema_privilege(n.oid, 'USAGE')
                             AND has_function_privilege(p.oid, 'EXECUTE'))""")
    return bool(cur.fetchone()[0])


def _redact(text: str, secrets: list[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def doctor_lines(report: dict[str, Any], informational: frozenset[str] = INFORMATIONAL) -> list[str]:
    """One line per check: ``OK   name: detail`` or ``FAIL name: detail -> what to do``
    (``INFO`` for a failed check that the load does not need)."""
    lines = []
    for name, check in report.get("checks", {}).items():
        tag = "OK  " if check["ok"] else ("INFO" if name in informational else "FAIL")
        lines.append(f"{tag} {name}: {check['detail']}")
    return lines
