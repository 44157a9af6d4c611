"""loader: load Spark DataFrames into PostgreSQL fast and safely.

Public API (see README)::

    from loader import write_to_postgres
    result = write_to_postgres(df, conn_params, method="copy", table="public.trips")

The heavy parts (PySpark, boto3) are imported on first use, so ``import loader``
and the CLI start fast.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    ConfigError,
    DataError,
    LoaderError,
    ManifestError,
    SchemaMismatchError,
    StagingError,
    TargetConnectionError,
)

_LAZY = {
    "write_to_postgres": ("api", "write_to_postgres"),
    "get_performance_recommendations": ("plan.recommend", "get_performance_recommendations"),
    "get_copy_protocol_recommendation": ("plan.recommend", "get_copy_protocol_recommendation"),
    "LoadResult": ("result", "LoadResult"),
}

__all__ = [
    "write_to_postgres", "get_performance_recommendations", "get_copy_protocol_recommendation", "LoadResult",
    "LoaderError", "ConfigError", "DataError", "ManifestError", "SchemaMismatchError", "StagingError",
    "TargetConnectionError",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'loader' has no attribute {name!r}")
