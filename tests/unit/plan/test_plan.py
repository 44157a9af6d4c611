"""choose_method: the auto decision."""

from __future__ import annotations

import pytest

from loader.options import Method
from loader.plan.choose import COPY_MIN_BYTES, COPY_MIN_ROWS, choose_method


@pytest.mark.parametrize(("rows", "width", "expected"), [
    (0, 100, Method.OPTIMIZED),
    (1, None, Method.OPTIMIZED),
    (COPY_MIN_ROWS, 50, Method.OPTIMIZED),  # at the threshold (and narrow, ~24 MB): still JDBC
    (COPY_MIN_ROWS + 1, 10, Method.COPY),
    (50_000_000, None, Method.COPY),
    (100_000, 400, Method.COPY),  # few but wide rows: ~38 MB
    (100_000, 300, Method.OPTIMIZED),  # ~29 MB
    (None, None, Method.COPY),  # size unknown: the method that scales
])
def test_copy_when_ready_and_big(rows: int | None, width: int | None, expected: Method) -> None:
    method, reason = choose_method(rows, width, copy_ready=True)
    assert method is expected
    assert reason


def test_exactly_at_the_byte_threshold_is_jdbc() -> None:
    assert choose_method(COPY_MIN_BYTES // 512, 512, True)[0] is Method.OPTIMIZED
    assert choose_method(COPY_MIN_BYTES // 512 + 1, 512, True)[0] is Method.COPY


def test_reasons_say_why() -> None:
    assert "rows" in choose_method(5_000_000, 50, True)[1]
    assert "MB" in choose_method(200_000, 2_000, True)[1]


@pytest.mark.parametrize("rows", [0, 10, 5_000_000, None])
def test_copy_not_ready_is_optimized_with_the_reason(rows: int | None) -> None:
    method, reason = choose_method(rows, 100, copy_ready=False,
                                   copy_not_ready_reason="bucket b not accessible: 404")
    assert method is Method.OPTIMIZED
    assert "bucket b not accessible" in reason


def test_copy_not_ready_without_reason_still_says_something() -> None:
    method, reason = choose_method(5_000_000, 100, copy_ready=False)
    assert method is Method.OPTIMIZED and "COPY" in reason
