"""Map clusters: the sites of a box counted on a grid by the database, for a map too full
for one marker per site.

The grid (documented in README "Map feeds" and the route's description):

- cells are squares of ``cell_degrees(zoom) = 360 / 2**zoom / CELLS_PER_TILE`` degrees of
  longitude and latitude: at web-mercator zoom ``z`` a 256-pixel tile spans ``360 / 2**z``
  degrees of longitude, so a cell is about 64 pixels wide on the map at that zoom (a little
  taller than wide away from the equator: square in degrees, not in metres);
- cell ``(column, row)`` holds the sites with ``column = floor((lon + 180) / size)`` and
  ``row = floor((lat + 90) / size)``: the grid is anchored at (-180, -90), never at the box,
  so a cell keeps its sites while the map pans and only the box's edges change;
- the columns and rows a box touches are at most ``MAX_CELLS`` (4,096: 64 × 64): a box too
  large for its zoom is answered at the finest coarser zoom whose grid fits, and the answer
  says the zoom it used. A bounded answer, and never a refusal a map could run into by
  zooming out.

Per cell the answer carries how many sites (``count``), how many in each patrol state
(``states``), the most urgent of them (``state``: overdue before due soon before on
schedule before archived — the colours of the map) and the average position of its sites
(the point drawn); a cell of one site also names it (``facility_id``, ``code``, ``name``) so
a map can draw it as that site. One GROUP BY over the facilities in the box, scoped and
filtered exactly as the GeoJSON feed (``features._conditions``), so the counts add up to the
feed's total for the same box and filters. A small box is a range of
``ix_facilities_longitude_latitude``; a division's sites, or a country's, are read from
``ix_facilities_township_id_id`` alone (on PostgreSQL it carries every column the GROUP BY
reads): one index range per township of a division, one index-only scan of the whole.
"""

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Integer, case, cast, func, select, text
from sqlmodel import Session

from app import access
from app.config import BBox
from app.geo import features
from app.models import Facility, FacilityStatus, Township, User

#: grid cells across one web-mercator tile (256 px): cells about 64 px wide on the map
CELLS_PER_TILE = 4
#: at most this many grid cells (columns × rows) over the box of one answer
MAX_CELLS = 4096
MAX_ZOOM = 18
#: days ahead within which an active site counts as due soon (the map's amber)
DUE_SOON_DAYS = 7
#: the patrol states, least urgent first (a site's rank is its index here)
STATES = ("archived", "ok", "due_soon", "overdue")
#: the whole world: the box of a caller with no sites in scope
WORLD = BBox((-180.0, -90.0, 180.0, 90.0))


def cell_degrees(zoom: int) -> float:
    """The side of a grid cell at ``zoom`` in degrees (a quarter of a tile's width)."""
    return 360.0 / 2**zoom / CELLS_PER_TILE


def _index(value: float, origin: float, size: float) -> int:
    return math.floor((value - origin) / size)


@dataclass(frozen=True)
class Grid:
    """The cells over ``box`` at ``zoom``: columns ``first_column`` … and rows ``first_row`` …"""

    box: BBox
    zoom: int
    requested_zoom: int

    @property
    def size(self) -> float:
        return cell_degrees(self.zoom)

    @property
    def first_column(self) -> int:
        return _index(self.box.min_lon, -180.0, self.size)

    @property
    def first_row(self) -> int:
        return _index(self.box.min_lat, -90.0, self.size)

    @property
    def columns(self) -> int:
        return _index(self.box.max_lon, -180.0, self.size) - self.first_column + 1

    @property
    def rows(self) -> int:
        return _index(self.box.max_lat, -90.0, self.size) - self.first_row + 1

    @property
    def cells(self) -> int:
        return self.columns * self.rows

    def describe(self) -> dict[str, Any]:
        """What the answer says of its grid, enough for a client to draw a cell's bounds."""
        return {
            "zoom": self.zoom,
            "requested_zoom": self.requested_zoom,
            "cell_degrees": self.size,
            "origin": [-180.0, -90.0],
            "columns": self.columns,
            "rows": self.rows,
            "max_cells": MAX_CELLS,
        }


def grid_for(box: BBox, zoom: int) -> Grid:
    """The grid of ``zoom`` over ``box``, or of the finest coarser zoom with at most
    ``MAX_CELLS`` cells (zoom 0 has 4 × 2 cells over the whole world, so one always fits)."""
    used = zoom
    while used > 0 and Grid(box, used, zoom).cells > MAX_CELLS:
        used -= 1
    return Grid(box, used, zoom)


def state_rank(today: date) -> Any:
    """A site's patrol state as its index in ``STATES``, as the map colours it: not active →
    archived; due before today → overdue; due within ``DUE_SOON_DAYS`` → due soon; else ok."""
    return case(
        (Facility.status != FacilityStatus.active, 0),
        (Facility.next_due_on < today, 3),
        (Facility.next_due_on <= today + timedelta(days=DUE_SOON_DAYS), 2),
        else_=1,
    )


def _cell(column: Any, origin: float, size: float, dialect: str) -> Any:
    """``floor((column - origin) / size)`` in SQL. The value is never negative (origin is
    the grid's corner), so SQLite's CAST, which truncates, floors it, with or without
    SQLite's optional math functions; PostgreSQL's CAST rounds, so it floors first."""
    scaled = (column - origin) / size
    if dialect == "postgresql":
        scaled = func.floor(scaled)
    return cast(scaled, Integer)


def _sites(
    columns: list[Any],
    *,
    user: User,
    filters: features.FeatureFilters,
    today: date,
    state: str | None,
) -> Any:
    """SELECT ``columns`` of the facilities ``user`` may see through ``filters`` and
    ``state``: the feed's scope (a semi-join) and conditions, joined to the townships only
    when ``township_code`` names one (a join per site costs a third of the time)."""
    conditions = features._conditions(filters, today=today)
    if state is not None:
        conditions.append(state_rank(today) == STATES.index(state))
    statement = select(*columns).select_from(Facility)
    if filters.township_code is not None:
        statement = statement.join(Township, Township.id == Facility.township_id)
    return features._scoped(statement, user).where(*conditions)


def clusters(
    *,
    session: Session,
    user: User,
    filters: features.FeatureFilters,
    zoom: int,
    today: date,
    state: str | None = None,
) -> dict[str, Any]:
    """The FeatureCollection of the grid's cells that hold sites ``user`` may see through
    ``filters`` (and in ``state``, if given): one Point feature per cell, ordered by row
    then column, with the totals and the grid used. No box: the extent of those sites
    (so a map can fit itself to a township's sites from one small answer)."""
    if filters.township_id is not None:
        access.ensure_visible(session, user, filters.township_id, f"Township {filters.township_id}")
    where = {"user": user, "today": today, "state": state}
    if filters.bbox is None:
        corners = [func.min(Facility.longitude), func.min(Facility.latitude)]
        corners += [func.max(Facility.longitude), func.max(Facility.latitude)]
        extent = session.execute(_sites(corners, filters=filters, **where)).one()
        filters = replace(filters, bbox=WORLD if extent[0] is None else BBox(extent))
    grid = grid_for(filters.bbox, zoom)
    dialect = session.get_bind().dialect.name
    sites = _sites(
        [
            _cell(Facility.longitude, -180.0, grid.size, dialect).label("column"),
            _cell(Facility.latitude, -90.0, grid.size, dialect).label("row"),
            state_rank(today).label("rank"),
            Facility.id,
            Facility.longitude,
            Facility.latitude,
        ],
        filters=filters,
        **where,
    ).subquery()
    # Grouped by cell *and* state: four cheap aggregates a site instead of nine (a count
    # per state, the worst, two averages), which is most of the work over a country of
    # sites; the few rows per cell are summed up here (``_merge``).
    query = (
        select(
            sites.c.column,
            sites.c.row,
            sites.c.rank,
            func.count(),
            func.sum(sites.c.longitude),
            func.sum(sites.c.latitude),
            func.min(sites.c.id),
        )
        # no ORDER BY: PostgreSQL cannot estimate how few cells there are, and sorting them
        # would sort every site first; a hash aggregate in memory needs no sort at all
        .group_by(sites.c.column, sites.c.row, sites.c.rank)
    )
    _from_the_index(session, filters)
    merged = _merge(session.connection().execute(query))
    lone = _names(session, [cell.first_id for cell in merged if cell.count == 1])
    cells = [_feature(cell, grid.zoom, lone) for cell in merged]
    totals = {s: sum(f["properties"]["states"][s] for f in cells) for s in STATES}
    return features.feature_collection(
        cells,
        total=sum(totals.values()),
        states=totals,
        bbox=list(grid.box),
        grid=grid.describe(),
    )


def _from_the_index(session: Session, filters: features.FeatureFilters) -> None:
    """PostgreSQL reads a country's sites from ``ix_facilities_township_id_id`` alone (it
    carries every column the GROUP BY reads), a quarter of the table's size. The planner
    costs that index-only scan a little above reading the whole table and would read the
    table: for this transaction (the rest of this answer: the lone sites' names, by primary
    key) it may not. Only when the index covers every filter: a filter on a column it does
    not carry (tier, kind, a change or patrol time) reads the rows anyway, and then reading
    the table in order is the cheaper way, which the planner stays free to choose."""
    uncovered = (
        filters.tier,
        filters.kind,
        filters.updated_since,
        filters.inspected_from,
        filters.inspected_to,
    )
    if filters.by_inspection_time or any(value is not None for value in uncovered):
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))


@dataclass
class _Cell:
    """One grid cell summed over the rows (one per state) the database grouped it into."""

    column: int
    row: int
    by_state: list[int]
    sum_lon: float = 0.0
    sum_lat: float = 0.0
    first_id: int = 0

    @property
    def count(self) -> int:
        return sum(self.by_state)


def _merge(rows: Any) -> list[_Cell]:
    """The cells of ``rows`` (column, row, rank, count, sum of longitudes, of latitudes,
    least id), ordered by row then column."""
    cells: dict[tuple[int, int], _Cell] = {}
    for column, row, rank, count, sum_lon, sum_lat, first_id in rows:
        cell = cells.get((row, column))
        if cell is None:
            cell = cells[row, column] = _Cell(column, row, [0] * len(STATES), first_id=first_id)
        cell.by_state[rank] += count
        cell.sum_lon += sum_lon
        cell.sum_lat += sum_lat
        cell.first_id = min(cell.first_id, first_id)
    return [cells[key] for key in sorted(cells)]


def _names(session: Session, ids: list[int]) -> dict[int, tuple[str, str]]:
    """The code and name of each of ``ids`` (the cells of one site), by primary key:
    carrying them through the aggregate would widen every row it groups."""
    if not ids:
        return {}
    query = select(Facility.id, Facility.code, Facility.name).where(Facility.id.in_(ids))
    return {fid: (code, name) for fid, code, name in session.connection().execute(query)}


def _feature(cell: _Cell, zoom: int, lone: dict[int, tuple[str, str]]) -> dict[str, Any]:
    count = cell.count
    properties: dict[str, Any] = {
        "count": count,
        "state": STATES[max(r for r, n in enumerate(cell.by_state) if n)],
        "states": dict(zip(STATES, cell.by_state, strict=True)),
        "cell": [cell.column, cell.row],
    }
    if count == 1:
        code, name = lone[cell.first_id]
        properties |= {"facility_id": cell.first_id, "code": code, "name": name}
    lon, lat = cell.sum_lon / count, cell.sum_lat / count
    return {
        "type": "Feature",
        "id": f"{zoom}/{cell.column}/{cell.row}",
        "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "properties": properties,
    }
