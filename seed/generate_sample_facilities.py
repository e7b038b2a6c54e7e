"""Write seed/facilities.csv: illustrative facilities, plainly marked as samples.

Deterministic (fixed random seed), so the file only changes when this script does.
Run from the repository root: ``python seed/generate_sample_facilities.py``.
"""

import csv
import random
from datetime import date
from pathlib import Path

HERE = Path(__file__).parent
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
        lon = float(township["longitude"]) + rng.uniform(-0.04, 0.04)
        lat = float(township["latitude"]) + rng.uniform(-0.04, 0.04)
        martyrs = "；".join(
            f"样例烈士{SURNAMES[(i + j) % 10]}{j + 1}（示例数据，非真实人物）"
            for j in range(rng.choice([1, 1, 1, 2, 3]))
        )
        rows.append(
            {
                "编号": f"{township['code']}-{seq:03d}",
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


if __name__ == "__main__":
    main()
