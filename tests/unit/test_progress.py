"""Progress lines: percent, ETA and estimates (pure), and where they go (log lines off a terminal)."""

from __future__ import annotations

import logging

import pytest

from loader.progress import Progress, eta_seconds, fmt_seconds, format_line, fraction_done


def test_fraction_prefers_counted_tasks_to_the_row_estimate() -> None:
    assert fraction_done(250, 1000, None) == 0.25
    assert fraction_done(250, 1000, (3, 4)) == 0.75
    assert fraction_done(5000, 1000, None) == 1.0  # an estimate that was too low never passes 100%
    assert fraction_done(10, None, None) is None
    assert fraction_done(10, None, (0, 0)) is None


@pytest.mark.parametrize(("fraction", "elapsed", "eta"), [(0.25, 10.0, 30.0), (0.5, 8.0, 8.0), (0.0, 5.0, None),
                                                          (None, 5.0, None), (1.0, 5.0, None)])
def test_eta(fraction: float | None, elapsed: float, eta: float | None) -> None:
    assert eta_seconds(fraction, elapsed) == eta


def test_seconds_read_naturally() -> None:
    assert [fmt_seconds(s) for s in (0, 59.4, 61, 3599, 3661)] == ["0s", "59s", "1m01s", "59m59s", "1h01m"]


def test_a_copy_line_counts_rows_of_the_estimate() -> None:
    line = format_line("public.t", "loading", rows=250_000, rows_total=1_000_000, elapsed=10.0, parts=3)
    assert line == "public.t loading: 3 parts, 250,000 of ~1,000,000 rows (25%), 25,000 rows/s, ETA 30s, 10s"


def test_a_jdbc_line_estimates_rows_from_tasks() -> None:
    line = format_line("public.t", "loading", rows=0, rows_total=1_000_000, elapsed=6.0, tasks=(2, 8),
                       rows_exact=False)
    assert line == "public.t loading: 2/8 tasks, ~250,000 of ~1,000,000 rows (25%), 41,667 rows/s, ETA 18s, 6s"


def test_without_an_estimate_no_percent_and_no_eta() -> None:
    line = format_line("public.t", "loading", rows=500, rows_total=None, elapsed=2.0)
    assert line == "public.t loading: 500 rows, 250 rows/s, 2s"
    # more rows than estimated: no "of" that the count has passed
    assert "of ~" not in format_line("t", "loading", rows=2000, rows_total=1000, elapsed=1.0)


def test_off_a_terminal_phases_and_counts_are_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    beats: list[tuple[str, int, int]] = []
    p = Progress(label="public.t", heartbeat=lambda *a: beats.append(a), log_every=0.0, beat_every=0.0)
    p.expect(100)
    with caplog.at_level(logging.INFO, logger="loader"):
        p.phase("loading")
        p.part_loaded("k", 40, 10)
        p.set_rows(100)
        p.done()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress: ")]
    assert lines[0].startswith("progress: public.t loading: 0 of ~100 rows (0%)")
    assert "40 of ~100 rows (40%)" in lines[1] and "100 of ~100 rows (100%)" in lines[-1]
    assert beats[0] == ("loading", 0, 0) and beats[-1][2] == 100
    assert p._ticker is not None
    p._ticker.join(timeout=5)
    assert not p._ticker.is_alive()  # done() stops the ticker


def test_a_failing_task_sampler_never_fails_the_load() -> None:
    p = Progress(label="t")

    def broken() -> tuple[int, int] | None:
        raise RuntimeError("tracker gone")

    p.track(broken, rows_exact=False)
    assert p.line() == "t pending: ~0 rows, 0s"
    p.done()


def test_each_copied_part_beats_at_once() -> None:
    # the run's parts_loaded follows each part, not the heartbeat's throttle (issue #22)
    beats: list[tuple[str, int, int]] = []
    p = Progress(label="t", heartbeat=lambda *a: beats.append(a), beat_every=3600.0, ticks=False)
    p.phase("loading")
    p.part_loaded("k0", 10, 1)
    p.part_loaded("k1", 5, 1)
    p.set_rows(15)  # not a part: throttled
    assert beats == [("loading", 0, 0), ("loading", 1, 10), ("loading", 2, 15)]
    p.done()
