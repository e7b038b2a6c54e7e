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


class Condition(StrEnum):
    """状况 of a facility as the inspector found it."""

    good = "good"
    minor_issues = "minor_issues"
    needs_repair = "needs_repair"
    severely_damaged = "severely_damaged"
    missing = "missing"


class ReviewStatus(StrEnum):
    """审核: rejected reports stop counting towards the schedule."""

    submitted = "submitted"
    accepted = "accepted"
    rejected = "rejected"


class ChecklistItem(StrEnum):
    """The patrol checklist (巡查项目)."""

    marker_sign = "marker_sign"
    biography_plaque = "biography_plaque"
    headstone = "headstone"
    inscription_legible = "inscription_legible"
    structure_sound = "structure_sound"
    boundary = "boundary"
    access_path = "access_path"
    surroundings_tidy = "surroundings_tidy"
    no_encroachment = "no_encroachment"
    fire_safety = "fire_safety"
    #: the facility's QR plate (``/f/{code}``): present, readable, scannable
    qr_plate = "qr_plate"


class ChecklistAnswer(StrEnum):
    ok = "ok"
    problem = "problem"
    na = "na"


class CampaignKind(StrEnum):
    """集中巡查: before Qingming, before Martyrs' Day (9·30), or any other window."""

    qingming = "qingming"
    martyrs_day = "martyrs_day"
    custom = "custom"


CONDITION_LABELS_ZH = {
    Condition.good: "完好",
    Condition.minor_issues: "轻微问题",
    Condition.needs_repair: "需要维修",
    Condition.severely_damaged: "严重损毁",
    Condition.missing: "灭失",
}

CHECKLIST_LABELS_ZH = {
    ChecklistItem.marker_sign: "保护标志",
    ChecklistItem.biography_plaque: "简介牌",
    ChecklistItem.headstone: "墓碑/碑体",
    ChecklistItem.inscription_legible: "碑文清晰",
    ChecklistItem.structure_sound: "主体完好",
    ChecklistItem.boundary: "保护范围界桩",
    ChecklistItem.access_path: "祭扫通道",
    ChecklistItem.surroundings_tidy: "周边环境整洁",
    ChecklistItem.no_encroachment: "无侵占违建",
    ChecklistItem.fire_safety: "防火",
    ChecklistItem.qr_plate: "二维码标牌",
}

#: how a ``problem`` answer reads in a work order (the items are phrased as what should hold)
CHECKLIST_PROBLEMS_ZH = {
    ChecklistItem.marker_sign: "保护标志缺失或损坏",
    ChecklistItem.biography_plaque: "简介牌缺失或损坏",
    ChecklistItem.headstone: "墓碑/碑体损坏",
    ChecklistItem.inscription_legible: "碑文模糊不清",
    ChecklistItem.structure_sound: "主体结构破损",
    ChecklistItem.boundary: "保护范围界桩缺失",
    ChecklistItem.access_path: "祭扫通道不畅",
    ChecklistItem.surroundings_tidy: "周边环境脏乱",
    ChecklistItem.no_encroachment: "存在侵占或违建",
    ChecklistItem.fire_safety: "存在火灾隐患",
    ChecklistItem.qr_plate: "二维码标牌损坏或缺失",
}

REVIEW_LABELS_ZH = {
    ReviewStatus.submitted: "待审核",
    ReviewStatus.accepted: "已通过",
    ReviewStatus.rejected: "已退回",
}


class MaintenanceCategory(StrEnum):
    """Fund uses of 《烈士纪念设施保护管理办法》 Art. 6, plus routine care."""

    repair = "repair"
    equipment = "equipment"
    environment = "environment"
    exhibition = "exhibition"
    commemoration = "commemoration"
    routine_care = "routine_care"


class OrderStatus(StrEnum):
    planned = "planned"
    approved = "approved"
    in_progress = "in_progress"
    completed = "completed"
    cancelled = "cancelled"


class FundSource(StrEnum):
    county = "county"
    provincial = "provincial"
    central = "central"
    other = "other"


class EntryKind(StrEnum):
    """A ledger entry's kind; its signed amount is its effect on what is available."""

    allocation = "allocation"
    commitment = "commitment"
    release = "release"
    expenditure = "expenditure"
    reversal = "reversal"


class PhotoStage(StrEnum):
    """When a maintenance photo was taken."""

    before = "before"
    after = "after"


CATEGORY_LABELS_ZH = {
    MaintenanceCategory.repair: "维修改造",
    MaintenanceCategory.equipment: "设备更新",
    MaintenanceCategory.environment: "环境整治",
    MaintenanceCategory.exhibition: "展陈宣传",
    MaintenanceCategory.commemoration: "祭扫纪念",
    MaintenanceCategory.routine_care: "日常管护",
}

ORDER_STATUS_LABELS_ZH = {
    OrderStatus.planned: "计划",
    OrderStatus.approved: "已批准",
    OrderStatus.in_progress: "实施中",
    OrderStatus.completed: "已完成",
    OrderStatus.cancelled: "已取消",
}

SOURCE_LABELS_ZH = {
    FundSource.county: "县级",
    FundSource.provincial: "省级",
    FundSource.central: "中央",
    FundSource.other: "其他",
}

ENTRY_LABELS_ZH = {
    EntryKind.allocation: "下拨",
    EntryKind.commitment: "预算占用",
    EntryKind.release: "占用释放",
    EntryKind.expenditure: "支出",
    EntryKind.reversal: "冲销",
}


# --- the national collection's fields (全国烈士纪念设施信息采集) ------------------------------


class ProtectionUnitType(StrEnum):
    """保护单位类型: who holds the facility in protection (管护责任主体)."""

    township_government = "township_government"
    village_committee = "village_committee"
    memorial_unit = "memorial_unit"
    public_body = "public_body"
    family = "family"
    other = "other"


class HeadstoneType(StrEnum):
    """墓碑类型 (for a monument or tablet: its stele)."""

    upright = "upright"
    recumbent = "recumbent"
    stele = "stele"
    tablet = "tablet"
    none = "none"
    other = "other"


class MainMaterial(StrEnum):
    """主要材质."""

    granite = "granite"
    marble = "marble"
    bluestone = "bluestone"
    concrete = "concrete"
    brick = "brick"
    earth = "earth"
    other = "other"


PROTECTION_UNIT_LABELS_ZH = {
    ProtectionUnitType.township_government: "乡镇人民政府",
    ProtectionUnitType.village_committee: "村（居）民委员会",
    ProtectionUnitType.memorial_unit: "烈士纪念设施保护单位",
    ProtectionUnitType.public_body: "机关、企事业单位",
    ProtectionUnitType.family: "烈士亲属",
    ProtectionUnitType.other: "其他",
}

HEADSTONE_LABELS_ZH = {
    HeadstoneType.upright: "立式墓碑",
    HeadstoneType.recumbent: "卧式墓碑",
    HeadstoneType.stele: "纪念碑体",
    HeadstoneType.tablet: "碑刻/牌匾",
    HeadstoneType.none: "无墓碑",
    HeadstoneType.other: "其他",
}

MATERIAL_LABELS_ZH = {
    MainMaterial.granite: "花岗岩",
    MainMaterial.marble: "大理石",
    MainMaterial.bluestone: "青石",
    MainMaterial.concrete: "混凝土",
    MainMaterial.brick: "砖砌",
    MainMaterial.earth: "封土",
    MainMaterial.other: "其他",
}
