"""``bench/run.py --smoke`` end to end: it runs, and what it reports is sane.

Needs only the ``test`` extra (psutil; no matplotlib, dlt, tpchgen-cli, pgpq,
psycopg 3 or ADBC: the smoke path skips what is missing and says so in the
report).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_bench_smoke(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["pinned"] is False
    assert results["limit"]["format"] == "binary"
    by_method = {r["method"]: r for r in results["records"]}
    for method in ("standard", "optimized", "copy", "copy-csv", "copy-cached", "limit", "limit-text"):
        rec = by_method.get(method)
        assert rec is not None, f"no result for {method}"
        assert rec["error"] is None, rec["error"]
        assert rec["rows"] == 3000
        assert rec["rows_per_s"] and rec["rows_per_s"] > 0
        assert rec["checksums"] and all(state == "ok" for state in rec["checksums"]), rec["checksums"]
    assert by_method["limit"]["of_limit"] == 1.0
    # the binary-COPY peers need the bench extra: loaded and checked when installed, else skipped with a note
    for method in ("pgpq-psycopg3", "adbc-ingest"):
        rec = by_method[method]
        if rec["skipped"]:
            assert any(n.startswith(f"{method} skipped:") for n in results["notes"]), results["notes"]
        else:
            assert rec["error"] is None, rec["error"]
            assert rec["checksums"] == ["ok"], rec["checksums"]
    md = (tmp_path / "results.md").read_text()
    assert "| method | mode | rows | s median |" in md
    assert "| of binary limit |" in md
    assert "(not pinned)" in md
    assert "LIMIT: server COPY FROM file (binary)" in md
    assert "limit-text: server COPY FROM file (CSV)" in md
