"""The design document's public names import from ``loader`` itself, whatever the folders inside."""

from __future__ import annotations

import inspect

import loader


def test_every_public_name_resolves() -> None:
    for name in loader.__all__:
        assert getattr(loader, name) is not None, name
    from loader.api import write_to_postgres
    from loader.plan.recommend import get_copy_protocol_recommendation, get_performance_recommendations

    assert loader.write_to_postgres is write_to_postgres
    assert loader.get_performance_recommendations is get_performance_recommendations
    assert loader.get_copy_protocol_recommendation is get_copy_protocol_recommendation
    assert loader.get_performance_recommendations(10_000_000)["method"] == "copy"


def test_the_design_documents_call_signature() -> None:
    params = list(inspect.signature(loader.write_to_postgres).parameters)
    assert params[:5] == ["df", "conn_params", "method", "temp_s3_bucket", "cleanup_temp_files"]
    assert "staging_format" in params
