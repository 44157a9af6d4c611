"""`loader reap` from the command line: prints what it deletes and keeps, touches only orphans."""

from __future__ import annotations

import json
import time
from typing import Any

from loader import cli
from loader.adapters import s3 as s3a


def test_loader_reap_cli(bucket: str, state_url: str, capsys: Any) -> None:
    client = s3a.make_client()
    old, fresh = int(time.time()) - 3 * 86400, int(time.time())
    keys = [f"tmp/postgres-copy/orders-{old}-deadbeef/part-00000-0000.csv.gz",
            f"tmp/postgres-copy/orders-{old}-deadbeef/part-00000.json",
            f"tmp/postgres-copy/orders-{fresh}-cafebabe/part-00000-0000.csv.gz",
            f"tmp/postgres-copy/orders-{old}-NOTHEX00/part-00000-0000.csv.gz",
            f"other/tmp/postgres-copy/orders-{old}-deadbeef/x"]
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=b"x")

    assert cli.main(["--state-url", state_url, "reap", "--bucket", bucket, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "deadbeef" in dry and "cafebabe" in dry
    assert sorted(o["Key"] for o in s3a.iter_objects(client, bucket, "")) == sorted(keys)

    assert cli.main(["--state-url", state_url, "reap", "--bucket", bucket, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[0]["ok"] and report[0]["totals"]["deleted"] == 1 and report[0]["totals"]["objects"] == 2
    left = sorted(o["Key"] for o in s3a.iter_objects(client, bucket, ""))
    assert left == sorted(keys[2:])  # the old orphan went; the fresh one, the look-alike, the foreign key stay


def test_reap_without_bucket_passes_on_a_setup_that_never_had_the_default(state_url: str, s3_server: Any,
                                                                            monkeypatch: Any, capsys: Any) -> None:
    # the README's cron line: no --bucket, and the project default bucket does not exist here
    monkeypatch.setenv("PYSPARK_TEMP_S3_BUCKET", "never-created-bucket")
    assert cli.main(["--state-url", state_url, "reap"]) == 0
    capsys.readouterr()
    # a bucket the user names is another matter: that it is missing is an error
    assert cli.main(["--state-url", state_url, "reap", "--bucket", "never-created-bucket"]) == 1
    assert "never-created-bucket" in capsys.readouterr().out
