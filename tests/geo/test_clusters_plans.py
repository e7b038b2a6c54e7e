"""The clusters count a township's, a division's or the whole country's sites from one index
alone on PostgreSQL, never the table's rows (issue 12: a country of a million sites): the
plans, read on the province of tests/test_query_plans.py (20,000 sites, analysed and
vacuumed). The statement is explained where the service sends it, in its own transaction,
so with what the service set for it there.

PostgreSQL only: SQLite has no ``INCLUDE``, and no planner statistics worth asserting on.
"""

import json
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlmodel import Session

from app import access
from app.config import BBox
from app.geo import clusters
from app.geo.features import FeatureFilters
from tests.test_query_plans import TODAY, Caller, _nodes, callers, province  # noqa: F401

#: every site of the loaded province lies inside (longitudes 110–120, latitudes 30–40)
PROVINCE_BOX = (109.5, 29.5, 120.5, 40.5)


def clusters_and_scans(
    engine: Engine, caller: Caller, zoom: int
) -> tuple[dict[str, Any], list[str]]:
    """The clusters ``caller`` gets for the whole province, and how their GROUP BY reads
    the facilities (each scan of the table as ``node type using index``)."""
    plans: list[Any] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "GROUP BY" in statement:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
            plans.append(cursor.fetchone()[0])

    event.listen(engine, "before_cursor_execute", explain)
    try:
        with Session(engine) as session:
            document = clusters.clusters(
                session=session,
                user=caller.user,
                filters=FeatureFilters(bbox=BBox(PROVINCE_BOX)),
                zoom=zoom,
                today=TODAY,
            )
    finally:
        event.remove(engine, "before_cursor_execute", explain)
    [plan] = plans
    plan = plan if isinstance(plan, list) else json.loads(plan)
    scans = [
        f"{node['Node Type']} using {node.get('Index Name')}"
        for node in _nodes(plan[0]["Plan"])
        if node.get("Relation Name") == "facilities"
    ]
    return document, scans


def test_the_clusters_of_any_scope_are_counted_from_the_index_alone(
    province: Engine,  # noqa: F811
    callers: list[Caller],  # noqa: F811
) -> None:
    for caller in callers:
        with Session(province) as session:
            seen = select(func.count()).select_from(access.facilities_under(caller.user).subquery())
            expected = session.execute(seen).scalar_one()
        for zoom in (4, 8):
            document, scans = clusters_and_scans(province, caller, zoom)
            where = (caller.label, zoom)
            assert scans == ["Index Only Scan using ix_facilities_township_id_id"], where
            assert document["total"] == sum(document["states"].values()) == expected > 0, where
