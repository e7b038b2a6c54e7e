"""The photo suite runs against both stores: the local directory and an S3-compatible
object store (moto on loopback, ``tests/s3.py``). A module asks for it by building its
``settings`` from the ``photo_store`` fixture (as ``test_photos.py`` does)."""

import pytest

from tests.s3 import S3Server, s3_server  # noqa: F401  (the session's S3 server, a fixture)

STORES = ["local", "s3"]


@pytest.fixture(params=STORES)
def photo_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``MEMORIAL_PHOTO_STORE`` for the store ``request.param`` names: empty (the photo
    directory), or an empty prefix of the test S3 server's bucket, whose endpoint and keys
    reach the app as a deployment's do, through the AWS_* variables boto3 reads."""
    if request.param == "local":
        return ""
    server: S3Server = request.getfixturevalue("s3_server")
    for name, value in server.environment.items():
        monkeypatch.setenv(name, value)
    return server.new_store_url()
