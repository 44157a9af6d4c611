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
