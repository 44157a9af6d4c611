"""loader: load Spark DataFrames into PostgreSQL fast and safely.

Public API (see README): ``write_to_postgres``, ``get_performance_recommendations``,
``get_copy_protocol_recommendation``, ``LoadResult`` and the ``LoaderError`` family.
"""

from .errors import LoaderError

__all__ = ["LoaderError"]
__version__ = "0.1.0"
