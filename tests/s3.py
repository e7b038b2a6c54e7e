"""A local S3-compatible server (moto in server mode) on loopback, for the photo store.

Import ``s3_server`` (and ``S3Server``) into the test module or conftest that needs it:
one server per test session (per xdist worker), its bucket made once; each test takes a
prefix of its own, so no test sees another's objects. The app reaches it the way a
deployment reaches its object store: through the standard AWS_* variables, which
``S3Server.environment`` gives (set them around ``create_app``, or pass them to a
subprocess).
"""

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

BUCKET = "memorial-photos"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str

    @property
    def environment(self) -> dict[str, str]:
        """What boto3 reads: where the store is, and (any) keys and region."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "memorial-test",
            "AWS_SECRET_ACCESS_KEY": "memorial-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            # never look for keys at a cloud's instance-metadata address
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def new_store_url(self) -> str:
        """``s3://bucket/<a fresh prefix>``: an empty store of its own."""
        return f"s3://{self.bucket}/test-{uuid.uuid4().hex[:12]}"

    def client(self) -> Any:
        import boto3

        env = self.environment
        return boto3.session.Session().client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )

    def objects(self, store_url: str) -> dict[str, bytes]:
        """Every object under the prefix of ``store_url``: its key (after the prefix) and bytes."""
        prefix = store_url.removeprefix(f"s3://{self.bucket}/") + "/"
        client = self.client()
        found = {}
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"]
                found[item["Key"].removeprefix(prefix)] = body.read()
        return found


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 in this process, on a free port of 127.0.0.1, with one bucket."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = S3Server(endpoint=f"http://{host}:{port}", bucket=BUCKET)
        s3.client().create_bucket(Bucket=BUCKET)
        yield s3
    finally:
        server.stop()
