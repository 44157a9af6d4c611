"""Under spark-submit the cluster's session settings stand (the decision, without a JVM)."""

from __future__ import annotations

import pytest

from loader.adapters.spark import under_spark_submit


def test_spark_submit_is_told_by_the_gateway_it_hands_to_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert not under_spark_submit()  # a laptop, the tests: the loader starts its own local session
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40123")
    assert under_spark_submit()
