from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.models import Crs, FacilityKind, FacilityStatus, Tier
from app.models.enums import HeadstoneType, MainMaterial, ProtectionUnitType
from app.schemas import Day, Id, InputModel, Phone, ShortText, TownshipRef

FacilityCode = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]

#: fields a township user may change on their own township's facilities. Not the location:
#: reports are judged on site against it, so only the county moves a facility.
TOWNSHIP_EDITABLE = frozenset(
    {
        "village",
        "address",
        "martyrs",
        "custodian_name",
        "custodian_phone",
        "year_built",
        "description",
        # the national collection's record and the management rule (they know them best)
        "protection_unit",
        "headstone_type",
        "commemorates",
        "area_m2",
        "main_material",
        "dimensions",
        "boundary_description",
        "record_photo_id",
        "management_rule",
        "management_rule_on",
    }
)

FacilitySort = Literal[
    "code",
    "-code",
    "name",
    "-name",
    "next_due_on",
    "-next_due_on",
    "registered_on",
    "-registered_on",
    "updated_at",
    "-updated_at",
]


class Martyr(InputModel):
    """A martyr the facility commemorates."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class _FacilityFields(InputModel):
    village: ShortText | None = None
    address: Annotated[str, StringConstraints(max_length=200)] | None = None
    martyrs: list[Martyr] | None = Field(default=None, max_length=200)
    custodian_name: Annotated[str, StringConstraints(max_length=32)] | None = None
    custodian_phone: Phone | None = None
    year_built: Annotated[int, Field(ge=1840, le=2100)] | None = None
    description: Annotated[str, StringConstraints(max_length=4000)] | None = None
    # the national collection's fields (app.facilities.completeness)
    protection_unit: ProtectionUnitType | None = Field(default=None, description="保护单位类型")
    headstone_type: HeadstoneType | None = Field(default=None, description="墓碑类型")
    commemorates: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="纪念对象"
    )
    area_m2: Annotated[float, Field(gt=0, le=10_000_000, allow_inf_nan=False)] | None = Field(
        default=None, description="占地面积, m²"
    )
    main_material: MainMaterial | None = Field(default=None, description="主要材质")
    dimensions: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        default=None, description="规格尺寸"
    )
    boundary_description: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="保护范围, in words"
    )
    management_rule: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="管理制度: its title or a short summary"
    )
    management_rule_on: Day | None = Field(default=None, description="the rule's adoption date")


class FacilityCreate(_FacilityFields):
    code: FacilityCode
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    kind: FacilityKind
    tier: Tier = Tier.unrated
    status: FacilityStatus = FacilityStatus.active
    township_id: Id
    longitude: Longitude
    latitude: Latitude
    crs: Crs = Field(default=Crs.wgs84, description="the system the coordinates are given in")
    martyrs: list[Martyr] = Field(default_factory=list, max_length=200)
    registered_on: Day | None = Field(
        default=None, description="登记日期; defaults to today (county time)"
    )


class FacilityUpdate(_FacilityFields):
    code: FacilityCode | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    kind: FacilityKind | None = None
    tier: Tier | None = None
    status: FacilityStatus | None = None
    township_id: Id | None = None
    longitude: Longitude | None = None
    latitude: Latitude | None = None
    crs: Crs | None = None
    registered_on: Day | None = None
    record_photo_id: Id | None = Field(
        default=None,
        description="全景/正面照片: one of this facility's photos (null clears it)",
    )

    @model_validator(mode="after")
    def _coordinates_together(self) -> "FacilityUpdate":
        given = self.model_fields_set
        if ("longitude" in given) != ("latitude" in given):
            raise ValueError("send longitude and latitude together")
        if "crs" in given and "longitude" not in given:
            raise ValueError("crs only applies together with longitude and latitude")
        if "longitude" in given and (self.longitude is None or self.latitude is None):
            raise ValueError("longitude and latitude cannot be cleared")
        return self


class MartyrRead(BaseModel):
    name: str
    note: str | None = None


class CompletenessRead(BaseModel):
    """How many of the national collection's fields (``/vocabulary`` collection_fields)
    the facility has filled."""

    filled: int
    total: int
    percent: int = Field(description="whole percent, rounded down")
    missing: list[str] = Field(description="the fields not filled, in the collection's order")


class FacilityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    kind: FacilityKind
    tier: Tier
    status: FacilityStatus
    township: TownshipRef
    village: str | None
    address: str | None
    longitude: float = Field(description="WGS-84")
    latitude: float = Field(description="WGS-84")
    source_crs: Crs
    source_longitude: float
    source_latitude: float
    martyrs: list[MartyrRead]
    custodian_name: str | None
    custodian_phone: str | None
    year_built: int | None
    description: str | None
    registered_on: date
    last_inspected_at: datetime | None
    next_due_on: date
    overdue: bool = Field(description="active and due before today (county time)")
    days_overdue: int
    created_at: datetime
    updated_at: datetime
    # the national collection's fields (app.facilities.completeness)
    protection_unit: ProtectionUnitType | None = None
    headstone_type: HeadstoneType | None = None
    commemorates: str | None = None
    area_m2: float | None = None
    main_material: MainMaterial | None = None
    dimensions: str | None = None
    boundary_description: str | None = None
    record_photo_id: int | None = Field(
        default=None,
        description="全景/正面照片 (GET /api/v1/photos/{id}); may name a photo since removed",
    )
    management_rule: str | None = None
    management_rule_on: date | None = None
    plate_code: str = Field(description="the QR plate's code: the short URL /f/{plate_code}")
    completeness: CompletenessRead


class TownshipCompleteness(BaseModel):
    """How much of the national collection's record a township's active facilities hold."""

    township: TownshipRef
    facilities: int = Field(description="active facilities")
    complete: int = Field(description="facilities with all the fields filled")
    filled: int = Field(description="fields filled, over all its active facilities")
    possible: int = Field(description="fields possible: facilities × fields")
    percent: int = Field(description="filled / possible, whole percent rounded down (0 if none)")
