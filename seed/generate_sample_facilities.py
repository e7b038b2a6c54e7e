"""Write seed/facilities.csv: illustrative facilities, plainly marked as samples.

Deterministic (fixed random seed), so the file only changes when this script does.
Every point lies inside the county's outline (``county-140521.geojson``), at least
``INSET_M`` from its edge: a point drawn around its township's rough centre that falls
outside is drawn again, from its own seeded generator (so every other column keeps the
values it always had), around the centre or, for a centre outside the outline, around the
outline's nearest point.
Run from the repository root: ``python seed/generate_sample_facilities.py``.
"""

import csv
import random
import sys
from datetime import date
from pathlib import Path

from shapely.geometry import Point
from shapely.ops import nearest_points

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the script runs outside the app; use its outline

from app.geo.outline import CountyOutline, load_outline  # noqa: E402

SPREAD_DEG = 0.04  # how far from its township's centre a sample may stand
INSET_M = 300.0  # how far inside the outline's edge every sample stands
KINDS = [
    ("烈士墓", 33),
    ("纪念碑", 12),
    ("纪念碑刻", 8),
    ("纪念亭", 3),
    ("烈士陵园/墓区", 2),
    ("其他", 2),
]
TIERS = [("未定级", 36), ("县级", 18), ("市级", 4), ("省级", 2)]
SURNAMES = "甲乙丙丁戊己庚辛壬癸"


def main() -> None:
    rng = random.Random(20251001)
    county = load_outline(HERE / "county-140521.geojson")
    townships = list(csv.DictReader((HERE / "townships.csv").open(encoding="utf-8")))
    kinds = [k for k, n in KINDS for _ in range(n)]
    tiers = [t for t, n in TIERS for _ in range(n)]
    rng.shuffle(kinds)
    rng.shuffle(tiers)
    rows = []
    for i in range(60):
        township = townships[i % len(townships)]
        seq = i // len(townships) + 1
        kind = kinds[i]
        registered = date(rng.randint(2018, 2024), rng.randint(1, 12), rng.randint(1, 28))
        centre = float(township["longitude"]), float(township["latitude"])
        lon = centre[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG)
        lat = centre[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG)
        code = f"{township['code']}-{seq:03d}"
        if not _well_inside(county, lon, lat):
            lon, lat = _redraw(county, centre, random.Random(code))
        martyrs = "；".join(
            f"样例烈士{SURNAMES[(i + j) % 10]}{j + 1}（示例数据，非真实人物）"
            for j in range(rng.choice([1, 1, 1, 2, 3]))
        )
        rows.append(
            {
                "编号": code,
                "名称": f"【样例】{township['name']}{kind.split('/')[0]}{seq}号",
                "类型": kind,
                "保护级别": tiers[i],
                "乡镇": township["code"],
                "村": f"样例村{seq}",
                "地址": f"{township['name']}样例村{seq}村东",
                "经度": f"{lon:.6f}",
                "纬度": f"{lat:.6f}",
                "坐标系": "WGS84",
                "烈士": martyrs,
                "管护人": "样例管护员",
                "管护人电话": f"1380000{i:04d}",
                "建成年份": rng.randint(1946, 1990),
                "简介": "示例设施，用于演示与测试；不代表真实的烈士纪念设施。",
                "登记日期": registered.isoformat(),
            }
        )
    with (HERE / "facilities.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _well_inside(county: CountyOutline, lon: float, lat: float) -> bool:
    return county.inset(INSET_M).covers(county.frame.to_metres(Point(lon, lat)))


def _redraw(
    county: CountyOutline, centre: tuple[float, float], rng: random.Random
) -> tuple[float, float]:
    """A point within SPREAD_DEG of the centre (or of the inside nearest to it), well inside."""
    inside = county.inset(INSET_M + 1000)
    anchor = county.frame.to_metres(Point(centre))
    if not inside.covers(anchor):
        anchor = nearest_points(inside, anchor)[0]
    lon0, lat0 = county.frame.to_degrees(anchor).coords[0]
    while True:
        lon = round(lon0 + rng.uniform(-SPREAD_DEG, SPREAD_DEG), 6)
        lat = round(lat0 + rng.uniform(-SPREAD_DEG, SPREAD_DEG), 6)
        if _well_inside(county, lon, lat):
            return lon, lat


if __name__ == "__main__":
    main()
