"""The JDBC methods (standard, optimized): Spark's writer into a per-run staging table, then one publish."""
