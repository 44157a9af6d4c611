"""The reaper at scale: thousands of objects in hundreds of prefixes on moto and SeaweedFS.

S3 requests are counted by observing the client's ``before-call.s3`` event (every API
call, as botocore makes it) and must grow with objects/1,000, not with objects.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.config import Config

from loader.reaper.apply import ReapPolicy, format_report, reap
from loader.state import StateStore
from loader.testing.s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Server

ROOT = "tmp/postgres-copy"


def fast_client(server: S3Server) -> Any:
    return boto3.client("s3", endpoint_url=server.endpoint_url, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name=REGION,
                        config=Config(max_pool_connections=32, s3={"addressing_style": "path"},
                                      retries={"max_attempts": 5, "mode": "standard"}))


class CallCounter:
    """Counts the S3 API calls a client makes, by operation (observing, not mocking)."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        client.meta.events.register("before-call.s3", self._seen)

    def _seen(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.calls[model.name if model is not None else "?"] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def populate(client: Any, bucket: str, prefixes: int, per_prefix: int, big: int, fresh: int) -> tuple[
        list[str], dict[str, int], list[str]]:
    """``prefixes`` old unknown prefixes of ``per_prefix`` objects, one of ``big`` objects, and
    ``fresh`` young unknown prefixes (kept). Returns (old prefixes, objects by prefix, fresh prefixes)."""
    now = int(time.time())
    old = [f"{ROOT}/t{i % 7}-{1700000000 + i}-{uuid.uuid4().hex[:8]}/" for i in range(prefixes + 1)]
    counts = {p: per_prefix for p in old[:-1]}
    counts[old[-1]] = big
    young = [f"{ROOT}/t-{now}-{uuid.uuid4().hex[:8]}/" for _ in range(fresh)]
    keys = [f"{p}part-{i:05d}.csv" for p, n in counts.items() for i in range(n)]
    keys += [f"{p}part-00000.csv" for p in young]
    keys += [f"{ROOT}/README", "outside/root/key"]
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"1,a\n"), keys))
    return old, counts, young


def count_keys(client: Any, bucket: str, prefix: str = "") -> int:
    n = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        n += len(page.get("Contents", []))
    return n


def run_scale(server: S3Server, state_url: str, prefixes: int, per_prefix: int, big: int) -> None:
    client = fast_client(server)
    bucket = server.create_bucket("scale-" + uuid.uuid4().hex[:12])
    fresh = 5
    old, counts, young = populate(client, bucket, prefixes, per_prefix, big, fresh)
    objects = sum(counts.values())

    reaper_client = fast_client(server)
    calls = CallCounter(reaper_client)
    store = StateStore(state_url)
    try:
        t0 = time.monotonic()
        report = reap(store, [bucket], ReapPolicy(), client=reaper_client,
                      now=datetime.now(timezone.utc))
        seconds = time.monotonic() - t0
        assert report.ok, format_report(report)
        assert report.prefixes_deleted == len(old)
        assert report.objects_deleted == objects
        assert report.bytes_freed == objects * 4
        assert {e.prefix for e in report.kept} == set(young)

        # what botocore made is what the report says, and it grows with objects/1000
        assert calls.total == report.requests, calls.calls
        assert set(calls.calls) == {"ListObjectsV2", "DeleteObjects"}
        n_prefixes = len(old) + len(young)
        root_pages = math.ceil(n_prefixes / 1000)
        bound = math.ceil(objects / 1000) + n_prefixes * 2 + root_pages
        assert report.requests <= bound, (report.requests, bound)
        # exactly: one root page, per old prefix its list pages plus its delete batches
        expected = root_pages + sum(math.ceil(n / 1000) * 2 for n in counts.values())
        assert report.requests == expected
        assert calls.calls["DeleteObjects"] == sum(math.ceil(n / 1000) for n in counts.values())
        assert report.requests < objects / 5

        # the store recorded each prefix once with its exact counts
        reaps = store.reaps(limit=None, bucket=bucket)
        assert len(reaps) == len(old) and sum(r.objects for r in reaps) == objects
        # nothing else was touched
        assert count_keys(client, bucket, ROOT + "/") == fresh + 1
        assert count_keys(client, bucket) == fresh + 2
        print(f"{server.kind}: reaped {objects} objects in {len(old)} prefixes with {report.requests} "
              f"requests in {seconds:.1f}s")
    finally:
        store.close()


def test_reap_scale_moto(s3_server: S3Server, state_url: str) -> None:
    # 1,250 objects in 250 prefixes plus one prefix of 2,500 (3 list pages, 3 delete batches);
    # moto lists by scanning the whole bucket, so more objects only make the test slower
    run_scale(s3_server, state_url, prefixes=250, per_prefix=5, big=2500)


@pytest.mark.seaweed
def test_reap_scale_seaweedfs(seaweed_server: S3Server, state_url: str) -> None:
    run_scale(seaweed_server, state_url, prefixes=120, per_prefix=5, big=2500)
