"""Run statuses read naturally in messages ("has succeeded", never "is succeeded")."""

from __future__ import annotations

import pytest

from loader.state.status import RunStatus


@pytest.mark.parametrize(("status", "phrase"), [(RunStatus.SUCCEEDED, "has succeeded"),
                                                (RunStatus.FAILED, "has failed"),
                                                (RunStatus.ABANDONED, "was abandoned"),
                                                (RunStatus.LOADING, "is loading")])
def test_status_phrase(status: RunStatus, phrase: str) -> None:
    assert status.described == phrase


def test_every_status_has_a_phrase() -> None:
    assert all(s.described.split()[0] in ("is", "has", "was") for s in RunStatus)
