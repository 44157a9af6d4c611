"""A staged part closes at rows_per_part rows (exactly: batches are split) or at part_mb MiB, whichever
comes first; both as the README and ``loader recommend`` say (binary and CSV parts)."""

from __future__ import annotations

from typing import Any

import pytest

from loader import write_to_postgres
from loader.state import StateStore


def _parts(spark: Any, pg_db: Any, bucket: str, state_url: str, table: str, **kw: Any) -> list[int]:
    # 30,000 rows of ~120 bytes: ~3.5 MiB as staged, in 2 Spark partitions (batches of 10,000 rows)
    df = spark.sql("SELECT id, repeat('x', 100 + CAST(id % 7 AS int)) AS s FROM range(30000)").repartition(2)
    result = write_to_postgres(df, pg_db.as_params(), method="copy", table=table, temp_s3_bucket=bucket,
                               state_url=state_url, fallback="none", server_side="never", **kw)
    assert result.rows == 30_000
    return sorted(p.rows for p in StateStore(state_url).parts(result.run_id))


@pytest.mark.parametrize("fmt", ["binary", "csv"])
def test_rows_per_part_is_exact(spark: Any, pg_db: Any, bucket: str, state_url: str, fmt: str) -> None:
    rows = _parts(spark, pg_db, bucket, state_url, f"rpp_{fmt}", rows_per_part=4_000, staging_format=fmt)
    assert max(rows) == 4_000 and sum(rows) == 30_000  # not 10,000: the Arrow batch is split


def test_part_mb_caps_parts_before_rows_per_part(spark: Any, pg_db: Any, bucket: str, state_url: str) -> None:
    rows = _parts(spark, pg_db, bucket, state_url, "pmb", rows_per_part=1_000_000, part_mb=1)
    assert len(rows) >= 4 and max(rows) < 15_000 and sum(rows) == 30_000
