"""A table or column name is honoured exactly or refused with its name, before anything is written:
in the call and in a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from loader import write_to_postgres
from loader.errors import ConfigError, ManifestError
from loader.manifest import load_manifests


def _tables(pg_conn: Any) -> list[str]:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace "
                    "AND relname NOT LIKE 'loader_%' ORDER BY 1")
        return [r[0] for r in cur.fetchall()]


@pytest.mark.parametrize("table", ['acc_q"uote', 'acc_evil"; drop table acc_victim; --', "t" * 70])
def test_a_table_name_the_grammar_refuses_changes_nothing(table: str, spark: Any, pg_db: Any, pg_conn: Any,
                                                           state_url: str) -> None:
    with pytest.raises(ConfigError) as info:
        write_to_postgres(spark.range(3), pg_db.as_params(), method="optimized", table=table, state_url=state_url)
    assert table[:20] in str(info.value)
    assert _tables(pg_conn) == []


def test_a_quoted_name_loads_into_exactly_that_table(spark: Any, pg_db: Any, pg_conn: Any, state_url: str) -> None:
    result = write_to_postgres(spark.range(3), pg_db.as_params(), method="optimized", table='"acc_q""uote"',
                               state_url=state_url)
    assert result.rows == 3 and _tables(pg_conn) == ['acc_q"uote']


def test_an_over_long_column_name_is_refused_before_data_moves(spark: Any, pg_db: Any, pg_conn: Any,
                                                               state_url: str) -> None:
    long = "c" * 64
    df = spark.sql(f"SELECT 1 AS id, 2 AS {long}")
    with pytest.raises(ConfigError, match=f"column name '{long}' is 64 bytes"):
        write_to_postgres(df, pg_db.as_params(), method="optimized", table="longcol", state_url=state_url)
    assert _tables(pg_conn) == []


def test_a_manifest_table_follows_the_same_grammar(tmp_path: Path) -> None:
    doc = {"version": 1, "source": {"format": "parquet", "path": "/data/x"},
           "target": {"connection": "postgresql://u@h:5432/d", "table": 'acc_q"uote'}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ManifestError) as info:
        load_manifests([str(tmp_path)])
    assert "target.table" in str(info.value) and 'acc_q"uote' in str(info.value)
    doc["target"]["table"] = 'sales."acc_q""uote"'
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(doc))
    (m,) = load_manifests([str(tmp_path)])
    assert (m.target.schema, m.target.table) == ("sales", 'acc_q"uote')
