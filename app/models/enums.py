"""The domain's vocabularies (DESIGN.md glossary). Stored as their string values."""

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    county = "county"
    township = "township"


class Tier(StrEnum):
    """保护级别."""

    national = "national"
    provincial = "provincial"
    municipal = "municipal"
    county = "county"
    unrated = "unrated"


class FacilityKind(StrEnum):
    """设施类型."""

    grave = "grave"
    cemetery = "cemetery"
    monument = "monument"
    tablet = "tablet"
    pavilion = "pavilion"
    memorial_hall = "memorial_hall"
    other = "other"


class FacilityStatus(StrEnum):
    """设施状态: only ``active`` facilities are patrolled and counted as overdue."""

    active = "active"
    relocated = "relocated"
    merged = "merged"
    archived = "archived"


class Crs(StrEnum):
    """Coordinate systems a client may send: GPS, AMap/Tencent/WeChat, Baidu."""

    wgs84 = "wgs84"
    gcj02 = "gcj02"
    bd09 = "bd09"


TIER_LABELS_ZH = {
    Tier.national: "全国重点",
    Tier.provincial: "省级",
    Tier.municipal: "市级",
    Tier.county: "县级",
    Tier.unrated: "未定级",
}

KIND_LABELS_ZH = {
    FacilityKind.grave: "烈士墓",
    FacilityKind.cemetery: "烈士陵园/墓区",
    FacilityKind.monument: "纪念碑",
    FacilityKind.tablet: "纪念碑刻",
    FacilityKind.pavilion: "纪念亭",
    FacilityKind.memorial_hall: "纪念馆",
    FacilityKind.other: "其他",
}

STATUS_LABELS_ZH = {
    FacilityStatus.active: "在管",
    FacilityStatus.relocated: "已迁入陵园",
    FacilityStatus.merged: "已合并",
    FacilityStatus.archived: "已归档",
}

ROLE_LABELS_ZH = {Role.admin: "管理员", Role.county: "县局", Role.township: "乡镇"}
