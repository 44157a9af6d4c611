"""Throwaway servers on loopback for tests, the demo and the benchmark.

Not used by the loading code itself: these start a PostgreSQL cluster with
Debian's binaries, moto's S3 server or SeaweedFS, and define the stand-in for
RDS's ``aws_s3`` extension.
"""
