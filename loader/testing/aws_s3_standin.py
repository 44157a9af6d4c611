"""A stand-in for RDS/Aurora's ``aws_s3`` extension, for tests and benchmarks.

It defines, in plpython3u, the same functions with the same signatures as RDS:

* ``aws_commons.create_s3_uri(bucket, file_path, region) -> aws_commons._s3_uri_1``
* ``aws_s3.table_import_from_s3(table_name, column_list, options, s3_info[, credentials])``
* ``aws_s3.table_import_from_s3(table_name, column_list, options, bucket, file_path, region[, ...])``

Like RDS, the database server pulls the object from S3 itself and runs COPY on
it inside the caller's transaction, and an object is gunzipped only when its
``Content-Encoding`` metadata says ``gzip`` (a gzip object without it reaches
COPY as it is, and COPY rejects it). ``options`` goes to COPY verbatim, as on
RDS, whose docs name csv, text (the default) and binary as the formats: a
parenthesized list such as ``(format binary)`` or ``(format csv, header true)``,
or the old keyword syntax such as ``DELIMITER '|'``. The object's bytes are
never decoded in Python: they are copied (or gunzipped) into a file that the
server's own ``COPY ... FROM '<file>'`` reads, so binary COPY streams and any
file encoding pass through untouched. The S3 endpoint and keys (on RDS:
the instance's IAM role) come from the table ``aws_s3._standin_config``.
Needs Debian's ``postgresql-plpython3-*`` and ``python3-boto3`` on the server.
"""

from __future__ import annotations

from typing import Any

_SQL = r"""
CREATE EXTENSION IF NOT EXISTS plpython3u;
CREATE SCHEMA IF NOT EXISTS aws_commons;
CREATE SCHEMA IF NOT EXISTS aws_s3;
DO $$ BEGIN
  CREATE TYPE aws_commons._s3_uri_1 AS (bucket text, file_path text, region text);
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
  CREATE TYPE aws_commons._aws_credentials_1 AS (access_key text, secret_key text, session_token text);
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE TABLE IF NOT EXISTS aws_s3._standin_config (
  endpoint_url text, access_key text, secret_key text, region text);

CREATE OR REPLACE FUNCTION aws_commons.create_s3_uri(bucket text, file_path text, region text)
RETURNS aws_commons._s3_uri_1 LANGUAGE sql IMMUTABLE AS
$$ SELECT ROW(bucket, file_path, region)::aws_commons._s3_uri_1 $$;

CREATE OR REPLACE FUNCTION aws_s3.table_import_from_s3(
  table_name text, column_list text, options text,
  bucket text, file_path text, region text,
  access_key text DEFAULT NULL, secret_key text DEFAULT NULL, session_token text DEFAULT NULL)
RETURNS text LANGUAGE plpython3u AS $py$
import gzip, os, shutil, tempfile
import boto3
cfg = plpy.execute("SELECT * FROM aws_s3._standin_config LIMIT 1")
if not cfg:
    plpy.error("aws_s3 stand-in: no row in aws_s3._standin_config")
c = cfg[0]
s3 = boto3.client("s3", endpoint_url=c["endpoint_url"],
                  aws_access_key_id=access_key or c["access_key"],
                  aws_secret_access_key=secret_key or c["secret_key"],
                  region_name=region or c["region"])
try:
    obj = s3.get_object(Bucket=bucket, Key=file_path)
except Exception as exc:
    plpy.error("HTTP error while fetching s3://%s/%s: %s" % (bucket, file_path, exc))
# bytes only, whatever the format: the server's COPY reads this file itself
fd, path = tempfile.mkstemp(prefix="aws_s3_standin_", suffix=".copy")
try:
    body = obj["Body"]
    with os.fdopen(fd, "wb") as out:
        if (obj.get("ContentEncoding") or "").strip().lower() == "gzip":
            with gzip.GzipFile(fileobj=body) as gz:
                shutil.copyfileobj(gz, out, 1 << 20)
        else:
            shutil.copyfileobj(body, out, 1 << 20)
        size = out.tell()
    cols = "(%s)" % column_list if column_list and column_list.strip() else ""
    res = plpy.execute("COPY %s %s FROM %s %s" % (table_name, cols, plpy.quote_literal(path), options or ""))
    return "%d rows imported into relation %s from file %s of %d bytes" % (
        res.nrows(), plpy.quote_literal(table_name), file_path, size)
finally:
    os.unlink(path)
$py$;

CREATE OR REPLACE FUNCTION aws_s3.table_import_from_s3(
  table_name text, column_list text, options text, s3_info aws_commons._s3_uri_1,
  credentials aws_commons._aws_credentials_1 DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
  SELECT aws_s3.table_import_from_s3(table_name, column_list, options,
    (s3_info).bucket, (s3_info).file_path, (s3_info).region,
    (credentials).access_key, (credentials).secret_key, (credentials).session_token)
$$;
"""


def install(conn: Any, endpoint_url: str, access_key: str, secret_key: str, region: str) -> None:
    """Install the stand-in into the database of ``conn`` (a psycopg2 connection, superuser)."""
    with conn.cursor() as cur:
        cur.execute(_SQL)
        cur.execute("DELETE FROM aws_s3._standin_config")
        cur.execute("INSERT INTO aws_s3._standin_config VALUES (%s, %s, %s, %s)",
                    (endpoint_url, access_key, secret_key, region))
    conn.commit()


def uninstall(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS aws_s3 CASCADE; DROP SCHEMA IF EXISTS aws_commons CASCADE")
    conn.commit()
