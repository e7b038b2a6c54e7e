"""Every table. ``base`` is imported first: it sets the constraint naming convention."""

from app.models import base  # noqa: F401  (naming convention before any table)
from app.models.audit import AuditChainHead, AuditEntry
from app.models.campaign import Campaign, CampaignTownship
from app.models.county import County, CountyPatrolPolicy
from app.models.enums import (
    CampaignKind,
    ChecklistAnswer,
    ChecklistItem,
    Condition,
    Crs,
    EntryKind,
    FacilityKind,
    FacilityStatus,
    FundSource,
    MaintenanceCategory,
    OrderStatus,
    PhotoStage,
    ReviewStatus,
    Role,
    Tier,
)
from app.models.facility import Facility
from app.models.funds import FundAccount, FundAllocation, LedgerEntry
from app.models.inspection import Inspection, Photo
from app.models.maintenance import MaintenanceOrder
from app.models.schedule import DEFAULT_INTERVAL_DAYS, PatrolPolicy
from app.models.township import Township
from app.models.user import LoginThrottle, User

__all__ = [
    "DEFAULT_INTERVAL_DAYS",
    "AuditChainHead",
    "AuditEntry",
    "Campaign",
    "CampaignKind",
    "CampaignTownship",
    "County",
    "CountyPatrolPolicy",
    "ChecklistAnswer",
    "ChecklistItem",
    "Condition",
    "Crs",
    "EntryKind",
    "Facility",
    "FacilityKind",
    "FacilityStatus",
    "FundAccount",
    "FundAllocation",
    "FundSource",
    "Inspection",
    "LedgerEntry",
    "LoginThrottle",
    "MaintenanceCategory",
    "MaintenanceOrder",
    "OrderStatus",
    "PatrolPolicy",
    "Photo",
    "PhotoStage",
    "ReviewStatus",
    "Role",
    "Tier",
    "Township",
    "User",
]
