"""The COPY method for one run: stage to S3 and load with COPY, overlapped, atomically.

Order of events, chosen so that nothing is ever lost track of:

1. check the bucket with one HeadBucket call;
2. record the temp prefix in the state store (before the first object exists,
   so a crash at any later point leaves a prefix the reaper can attribute);
3. start the Spark staging job in a background thread, and on the driver open
   the one target transaction;
4. whenever a partition's marker appears in S3, COPY its parts into the open
   transaction (staging and loading overlap: on 2 cores Spark's CSV rendering
   and PostgreSQL's parsing take turns instead of waiting for each other);
5. check that every partition was loaded and the row counts add up, write the
   ledger row and commit;
6. delete the prefix (best effort; the reaper is the guarantee).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg2

from ..adapters import pg
from ..adapters import s3 as s3a
from ..connection import ConnectionSpec
from ..errors import DataError, LoaderError, ServerSideUnavailable, TargetConnectionError
from ..naming import TableRef, s3_uri
from ..options import CopyOptions, WriteMode
from ..plan.typemap import ColumnPlan
from ..progress import Progress
from ..target.rejects import RejectPolicy
from .csv_encode import csv_lines
from .staging import StagingThread
from .task import StageConfig, StagedPart, is_marker, local_credentials, read_marker
from .transaction import CopyTransaction, aws_region

log = logging.getLogger("loader")
POLL_SECONDS = 0.25


@dataclass
class CopyOutcome:
    rows: int = 0
    bytes_staged: int = 0
    parts: int = 0
    server_side: bool = False
    rows_rejected: int = 0
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class CopyJob:
    df: Any
    spec: ConnectionSpec
    target: TableRef
    plan: ColumnPlan
    mode: WriteMode
    key: tuple[str, ...]
    run_id: str
    opts: CopyOptions
    bucket: str
    prefix: str
    create_sql: str | None = None
    reject: RejectPolicy | None = None
    #: key columns named in data errors (the upsert key, else the table's primary key)
    error_key: tuple[str, ...] = ()
    progress: Progress = field(default_factory=Progress)
    defer_indexes: bool = False
    #: called once per part when its partition's marker is read (the engine records it)
    on_part_staged: Callable[[StagedPart], None] = lambda part: None

    @property
    def temp_path(self) -> str:
        return s3_uri(self.bucket, self.prefix)

    def run(self) -> CopyOutcome:
        client = s3a.make_client()
        out = CopyOutcome()
        conn = pg.connect(self.spec, application_name=f"loader-copy:{self.run_id[:8]}")
        try:
            out.server_side = self._use_server_side(conn)
            lines = csv_lines(self.df, self.plan.names, self.opts.strip_nul)
            n_partitions = lines.rdd.getNumPartitions()
            done_before = self._staged_partitions(client)
            cfg = StageConfig(bucket=self.bucket, prefix=self.prefix, gzip=self.opts.compression == "gzip",
                              rows_per_part=self.opts.rows_per_part, endpoint_url=s3a.endpoint_url(),
                              skip_partitions=frozenset(done_before), columns=self.plan.names,
                              check_nul=not self.opts.strip_nul,
                              credentials=local_credentials(self.df.sparkSession))
            log.info("Writing temporary CSV to %s", self.temp_path)
            self.progress.phase("staging", parts_total=None)
            stager = StagingThread(lines, cfg, self.run_id)
            stager.start()
            txn = CopyTransaction(conn, self.target, self.plan, self.mode, self.key, self.run_id,
                                  create_sql=self.create_sql, reject=self.reject,
                                  defer_indexes=self.defer_indexes)
            t0 = time.monotonic()
            try:
                txn.begin()
                loaded = self._load_while_staging(client, txn, stager, out)
            except BaseException:
                stager.cancel()
                raise
            out.timings["stage"] = stager.seconds
            missing = set(range(n_partitions)) - loaded
            if missing:
                raise LoaderError(f"partitions {sorted(missing)[:5]} of run {self.run_id} were never staged",
                                  next_step="resume the run", run_id=self.run_id, retryable=True)
            self.progress.phase("staged")
            self.progress.phase("loading")
            rows = txn.finish()
            self._commit(conn)
            out.timings["load"] = time.monotonic() - t0
            out.rows = rows if self.mode is not WriteMode.UPSERT or self.reject else txn.rows
            out.rows_rejected = txn.rows_rejected
            log.info("COPY protocol completed successfully")
            return out
        except psycopg2.Error as exc:
            with contextlib.suppress(Exception):
                conn.rollback()
            if pg.is_data_error(exc):
                raise pg.data_error(exc, table=self.target, run_id=self.run_id) from None
            raise TargetConnectionError(
                f"PostgreSQL {self.spec.safe_description()} failed during the load of {self.target}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
                next_step="the transaction was rolled back; check the server and run again (or --resume)",
                run_id=self.run_id) from None
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        finally:
            conn.close()

    def _commit(self, conn: Any) -> None:
        """Commit; if the connection dies during COMMIT, the ledger says whether it happened."""
        try:
            conn.commit()
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            check = pg.connect(self.spec)
            try:
                with check.cursor() as cur:
                    committed = pg.ledger_lookup(cur, self.target, self.run_id) is not None
            finally:
                check.close()
            if not committed:
                raise
            log.warning("connection lost during COMMIT, but the ledger shows run %s committed", self.run_id)

    # --- pieces -----------------------------------------------------------------
    def _use_server_side(self, conn: Any) -> bool:
        if self.opts.server_side == "never":
            return False
        with conn.cursor() as cur:
            present = pg.has_aws_s3(cur)
        conn.rollback()
        if self.opts.server_side == "always" and not present:
            raise ServerSideUnavailable(
                f"server_side: always, but {self.spec.safe_description()} has no aws_s3 extension",
                next_step="CREATE EXTENSION aws_s3 CASCADE (RDS/Aurora), or set copy.server_side: auto",
                run_id=self.run_id)
        return present

    def _staged_partitions(self, client: Any) -> set[int]:
        """Partitions staged by an earlier attempt of this run (their markers exist)."""
        found = set()
        for obj in s3a.iter_objects(client, self.bucket, self.prefix):
            if is_marker(obj["Key"]):
                found.add(int(obj["Key"].rsplit("part-", 1)[1].split(".")[0]))
        return found

    def _load_while_staging(self, client: Any, txn: CopyTransaction, stager: StagingThread,
                            out: CopyOutcome) -> set[int]:
        """COPY each part as soon as its object exists (S3 shows an object only once complete);
        the partitions' markers, read as they appear, are checked against what was loaded."""
        loaded: dict[str, int] = {}
        markers: dict[int, list[StagedPart]] = {}
        while True:
            finished = not stager.is_alive()  # read before listing: nothing can be missed
            stager.raise_if_failed()
            objects = sorted(s3a.iter_objects(client, self.bucket, self.prefix), key=lambda o: o["Key"])
            for obj in objects:
                key = obj["Key"]
                if is_marker(key):
                    partition = int(key.rsplit("part-", 1)[1].split(".")[0])
                    if partition not in markers:
                        markers[partition] = s3a.call("GetObject", read_marker, client, self.bucket, key,
                                                      bucket=self.bucket)
                        for part in markers[partition]:
                            self.on_part_staged(part)
                elif key not in loaded:
                    loaded[key] = self._load_part(client, txn, key, int(obj.get("Size", 0)), out)
            if finished:
                break
            time.sleep(POLL_SECONDS)
        expected = {p.key: p.rows for parts in markers.values() for p in parts}
        if expected != loaded:
            wrong = sorted(set(expected.items()) ^ set(loaded.items()))[:3]
            raise LoaderError(f"staged parts and loaded parts of run {self.run_id} disagree: {wrong}",
                              next_step="run again: a staging task was retried with different data",
                              run_id=self.run_id, retryable=True)
        return set(markers)

    def _load_part(self, client: Any, txn: CopyTransaction, key: str, size: int, out: CopyOutcome) -> int:
        where = f"s3://{self.bucket}/{key}"
        try:
            if out.server_side:
                rows = txn.import_server_side(self.bucket, key, aws_region())
            else:
                body = s3a.call("GetObject", client.get_object, Bucket=self.bucket, Key=key,
                                bucket=self.bucket)["Body"]
                rows = txn.copy_stream(body, where)
        except DataError as exc:
            if self.error_key:
                exc.message += key_of_line(client, self.bucket, key, exc.message, self.plan.names,
                                           self.error_key)
            raise
        out.parts += 1
        out.bytes_staged += size
        self.progress.part_loaded(key, rows, size)
        return rows


def key_of_line(client: Any, bucket: str, key: str, message: str, columns: tuple[str, ...],
                key_columns: tuple[str, ...]) -> str:
    """'; key (id=7)' for the record at the line PostgreSQL named, read back from the part."""
    import csv
    import io
    import re

    from .transaction import _PartStream

    found = re.search(r"\bline (\d+)", message)
    if not found or not all(k in columns for k in key_columns):
        return ""
    wanted = int(found.group(1))
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        # parts are bounded (16 MB of CSV), and this runs only on the error path
        text = io.StringIO(_PartStream(body).read().decode("utf-8"), newline="")
        lines_read = 0

        def counted() -> Any:  # PostgreSQL counts physical lines; csv reads records
            nonlocal lines_read
            for line in text:
                lines_read += 1
                yield line

        for record in csv.reader(counted()):
            if lines_read >= wanted:
                shown = ", ".join(f"{k}={record[columns.index(k)]}" for k in key_columns)
                return f"; key ({shown})"
    except Exception:  # the key is a courtesy; the error itself stands
        return ""
    return ""
