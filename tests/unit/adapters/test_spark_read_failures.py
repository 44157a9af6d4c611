"""A source read that failed inside a Spark job, decided by the conditions along the Java cause
chain (stand-ins carrying what py4j's JavaObjects carry); and JSON that is not JSON Lines.
tests/functional/runner/test_source_errors.py shows the real ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loader.adapters.spark_read_failures import json_not_lines, translate_read_in_job
from loader.errors import DataError, SourceError


class Throwable:
    def __init__(self, condition: str, params: dict[str, str], message: str, cause: Any = None) -> None:
        self.condition, self.params, self.message, self.cause = condition, params, message, cause

    def getErrorClass(self) -> str:  # noqa: N802 - Spark 3.5's name
        return self.condition

    def getMessageParameters(self) -> dict[str, str]:  # noqa: N802
        return self.params

    def getMessage(self) -> str:  # noqa: N802
        return self.message

    def getCause(self) -> Any:  # noqa: N802
        return self.cause


class Py4JJavaError(Exception):
    def __init__(self, java_exception: Any) -> None:
        super().__init__("An error occurred while calling o99.jdbc.")
        self.java_exception = java_exception


def _failfast(path: Path, read_condition: str) -> Py4JJavaError:
    raw = Throwable("MALFORMED_CSV_RECORD", {"badRecord": "2,bob,extra"}, "Malformed CSV record")
    parsed = Throwable("MALFORMED_RECORD_IN_PARSING.WITHOUT_SUGGESTION", {"badRecord": "[2,bob]"}, "...", raw)
    read = Throwable(read_condition, {"path": f"file://{path}"}, "Encountered error", parsed)
    return Py4JJavaError(Throwable("", {}, "Job aborted", read))


@pytest.mark.parametrize("read_condition", ["FAILED_READ_FILE.NO_HINT", "_LEGACY_ERROR_TEMP_2064"])  # Spark 4, 3.5
def test_a_malformed_record_names_the_file_the_line_and_the_raw_record(tmp_path: Path, read_condition: str) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,name\n1,ann\n2,bob,extra\n")
    err = translate_read_in_job(_failfast(path, read_condition), run_id="r1")
    assert isinstance(err, DataError) and err.run_id == "r1"
    assert err.message.startswith(f"{path} line 3: ") and "'2,bob,extra'" in err.message
    assert "Py4JJavaError" not in str(err) and err.next_step


def test_an_unreadable_file_in_a_job_is_a_source_error_naming_it(tmp_path: Path) -> None:
    cause = Throwable("", {}, "Can not read value at 0 in block -1\n\tat org.apache...")
    exc = Py4JJavaError(Throwable("FAILED_READ_FILE.NO_HINT", {"path": f"file://{tmp_path}/x.parquet"}, "E", cause))
    err = translate_read_in_job(exc)
    assert isinstance(err, SourceError)
    assert err.message == f"cannot read {tmp_path}/x.parquet: Can not read value at 0 in block -1"


def test_other_job_failures_are_not_taken_for_reads() -> None:
    assert translate_read_in_job(Py4JJavaError(Throwable("TASK_WRITE_FAILED", {}, "boom"))) is None
    assert translate_read_in_job(RuntimeError("plain")) is None


def test_a_json_array_says_to_set_multiline_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('[\n  {"id": 1}\n]\n')
    err = json_not_lines(str(tmp_path), "m.yaml: source", multiline=False)
    assert f"{tmp_path}/a.json looks like one JSON array" in err.message and 'multiLine: "true"' in (err.next_step or "")
    (tmp_path / "a.json").write_text('{\n  "id": 1\n}\n')
    assert "several lines" in json_not_lines(str(tmp_path / "a.json"), "s", multiline=False).message
    assert "even with multiLine" in json_not_lines(str(tmp_path), "s", multiline=True).message


class JavaClass:
    def __init__(self, name: str) -> None:
        self.name = name

    def getName(self) -> str:  # noqa: N802
        return self.name


class JavaThrowable(Throwable):
    def __init__(self, java_class: str, message: str | None, cause: Any = None, condition: str = "",
                 params: dict[str, str] | None = None) -> None:
        super().__init__(condition, params or {}, message, cause)  # type: ignore[arg-type]
        self.java_class = java_class

    def getClass(self) -> JavaClass:  # noqa: N802
        return JavaClass(self.java_class)


def _failed_read(path: Path, cause: Any) -> Py4JJavaError:
    read = JavaThrowable("org.apache.spark.SparkException", f"[FAILED_READ_FILE.NO_HINT] Encountered error while "
                         f"reading file file://{path}.  SQLSTATE: KD001", cause, "FAILED_READ_FILE.NO_HINT",
                         {"path": f"file://{path}"})
    return Py4JJavaError(JavaThrowable("org.apache.spark.SparkException", "Job aborted", read))


def test_a_cause_without_a_message_is_said_in_words_never_none(tmp_path: Path) -> None:
    # parquet-testing's byte_array_decimal.parquet: a NullPointerException whose getMessage() is null
    err = translate_read_in_job(_failed_read(tmp_path / "x.parquet",
                                             JavaThrowable("java.lang.NullPointerException", None)))
    assert isinstance(err, SourceError) and "None" not in err.message
    assert err.message.startswith(f"cannot read {tmp_path / 'x.parquet'}: [FAILED_READ_FILE.NO_HINT]")
    assert "stopped on a NullPointerException, which says nothing more" in err.message
    assert err.ids["file"] == str(tmp_path / "x.parquet")


def test_a_missing_codec_is_named_with_how_to_get_it(tmp_path: Path) -> None:
    missing = JavaThrowable("java.lang.ClassNotFoundException", "org.apache.hadoop.io.compress.BrotliCodec")
    bad_conf = JavaThrowable("org.apache.parquet.hadoop.BadConfigurationException",
                             "Class org.apache.hadoop.io.compress.BrotliCodec was not found", missing)
    err = translate_read_in_job(_failed_read(tmp_path / "b.parquet", bad_conf))
    assert isinstance(err, SourceError)
    assert "compressed with Brotli, and Spark's Hadoop has no Brotli codec" in err.message
    assert "rewrite the file with another codec" in (err.next_step or "")


def test_the_deepest_worded_cause_is_spark_s_reason(tmp_path: Path) -> None:
    eof = JavaThrowable("java.io.EOFException", "Reached the end of stream with 7 bytes left to read")
    err = translate_read_in_job(_failed_read(tmp_path / "n.parquet", eof))
    assert isinstance(err, SourceError)
    assert err.message == f"cannot read {tmp_path / 'n.parquet'}: Reached the end of stream with 7 bytes left to read"


def test_spark_35_s_footer_refusal_names_the_file_and_not_java_s_words_for_a_null(tmp_path: Path) -> None:
    # PySpark 3.5 (parquet-mr 1.13) on a file with Parquet's GEOMETRY logical type: the footer's
    # refusal under "Exception thrown in awaitResult", its root a NullPointerException whose message
    # names a Java call, not a reason
    path = tmp_path / "geospatial.parquet"
    npe = JavaThrowable("java.lang.NullPointerException", 'Cannot invoke "org.apache.parquet.format.LogicalType'
                        '$_Fields.ordinal()" because the return value of "...getSetField()" is null')
    footer = JavaThrowable("org.apache.spark.SparkException", f"[CANNOT_READ_FILE_FOOTER] Could not read footer for "
                           f"file: file:{path}. Please ensure that the file is in either ORC or Parquet format.", npe,
                           "CANNOT_READ_FILE_FOOTER", {"file": f"file:{path}"})
    exc = Py4JJavaError(JavaThrowable("org.apache.spark.SparkException", "Exception thrown in awaitResult: ", footer))
    err = translate_read_in_job(exc)
    assert isinstance(err, SourceError) and err.ids["file"] == str(path)
    assert err.message.startswith(f"cannot read {path}: [CANNOT_READ_FILE_FOOTER] Could not read footer")
    assert "stopped on a NullPointerException" in err.message and "getSetField" not in err.message


def test_spark_35_s_column_that_cannot_be_converted_names_its_file(tmp_path: Path) -> None:
    # PySpark 3.5's legacy 2063 says the file as filePath (Spark 4: FAILED_READ_FILE.*'s path)
    path = tmp_path / "byte_array_decimal.parquet"
    cause = JavaThrowable("org.apache.spark.sql.execution.datasources.SchemaColumnConvertNotSupportedException",
                          "column: [value], physicalType: BINARY, logicalType: decimal(4,2)")
    convert = JavaThrowable("org.apache.spark.SparkException", f"Parquet column cannot be converted in file "
                            f"file://{path}. Column: [value], Expected: decimal(4,2), Found: BINARY.", cause,
                            "_LEGACY_ERROR_TEMP_2063", {"filePath": f"file://{path}", "column": "[value]"})
    err = translate_read_in_job(Py4JJavaError(JavaThrowable("org.apache.spark.SparkException", "Job aborted", convert)))
    assert isinstance(err, SourceError) and err.ids["file"] == str(path)
    assert err.message == f"cannot read {path}: column: [value], physicalType: BINARY, logicalType: decimal(4,2)"


def test_nanosecond_timestamps_refused_inside_spark_35_s_footer_job_name_the_column(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from loader.adapters.spark_errors import translate_read_failure

    path = tmp_path / "from_pandas.parquet"
    pq.write_table(pa.table({"id": [1], "seen_at": pa.array([0], pa.timestamp("ns"))}), path)
    illegal = JavaThrowable("org.apache.spark.sql.AnalysisException",
                            "Illegal Parquet type: INT64 (TIMESTAMP(NANOS,true)).", None, "_LEGACY_ERROR_TEMP_1173",
                            {"parquetType": "INT64 (TIMESTAMP(NANOS,true))"})
    exc = Py4JJavaError(JavaThrowable("org.apache.spark.SparkException", "Job aborted due to stage failure", illegal))
    err = translate_read_failure(exc, where="m.yaml: source", fmt="parquet", path=str(path))
    assert err.message.startswith(f"m.yaml: source: {path}: column 'seen_at' holds nanosecond timestamps")
    assert "coerce_timestamps='us'" in (err.next_step or "")
