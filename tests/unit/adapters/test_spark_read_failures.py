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
