"""GDAL, a real map client, reads both feeds from the app under uvicorn (TESTING.md).

Skips only when ``ogrinfo`` (Debian ``gdal-bin``) is missing; with PostgreSQL given (the
full suite, .ci/run) the conftest turns that skip into a failure.
"""

import re
import shutil
import subprocess

import pytest

from tests import live
from tests.factories import World, make_facility
from tests.live import LiveServer

server = live.server  # the fixture: the test app under uvicorn

OGRINFO = shutil.which("ogrinfo")
pytestmark = pytest.mark.skipif(OGRINFO is None, reason="ogrinfo (Debian gdal-bin) is missing")


def ogrinfo(world: World, who: str, source: str, *args: str) -> str:
    token = world.headers(who)["Authorization"]
    done = subprocess.run(
        [OGRINFO, "-ro", "-al", *args, "--config", "GDAL_HTTP_HEADERS",
         f"Authorization: {token}", "--config", "GDAL_HTTP_TIMEOUT", "30", source],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return done.stdout


def feature_counts(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"^Feature Count: (\d+)$", output, flags=re.M)]


@pytest.fixture
def sites(world: World, db) -> World:
    """Three more sites in township A (four there), one more in B (two)."""
    with db.begin() as session:
        for n in range(3):
            make_facility(session, township=world.township_a, code=f"A-10{n}", name=f"烈士墓{n}")
        make_facility(session, township=world.township_b, code="B-100", lon=112.4, lat=35.8)
    return world


@pytest.mark.parametrize(("who", "count"), [("admin", 6), ("township", 4)])
def test_gdal_reads_the_geojson_feed(
    server: LiveServer, sites: World, who: str, count: int
) -> None:
    url = f"{server.url}/api/v1/map/facilities.geojson"
    assert feature_counts(ogrinfo(sites, who, url, "-so")) == [count]
    found = ogrinfo(sites, who, url, "-where", "code = 'A-101'")
    assert "township_name (String) = 龙港镇" in found
    assert "name (String) = 烈士墓1" in found


@pytest.mark.parametrize(("who", "count"), [("admin", 6), ("township", 4)])
def test_gdal_reads_the_ogc_api(server: LiveServer, sites: World, who: str, count: int) -> None:
    source = f"OAPIF:{server.url}/ogc"
    summary = ogrinfo(sites, who, source, "-so")
    assert "Layer name: facilities" in summary
    assert "Layer name: county" in summary
    assert feature_counts(summary) == [count, 1]
    found = ogrinfo(sites, who, f"OAPIF:{server.url}/ogc/collections/facilities",
                    "-where", "code = 'A-102'")  # fmt: skip
    assert "township_code (String) = 140521100" in found
    assert "name (String) = 烈士墓2" in found
    if who == "township":
        assert "B-100" not in ogrinfo(sites, who, f"OAPIF:{server.url}/ogc/collections/facilities")
