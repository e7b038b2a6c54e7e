"""Settings: the one place that reads the environment (prefix ``MEMORIAL_``)."""

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: data files shipped with the source tree (the Dockerfile copies ``seed/`` next to ``app/``)
SEED_DIR = Path(__file__).resolve().parent.parent / "seed"
#: Qinshui County, Jincheng, Shanxi (140521): its outline in WGS-84, see seed/README.md
DEFAULT_COUNTY_BOUNDARY = SEED_DIR / "county-140521.geojson"


class BBox(tuple[float, float, float, float]):
    """``(min_lon, min_lat, max_lon, max_lat)`` in WGS-84 degrees (the ``bbox`` query filter)."""

    @property
    def min_lon(self) -> float:
        return self[0]

    @property
    def min_lat(self) -> float:
        return self[1]

    @property
    def max_lon(self) -> float:
        return self[2]

    @property
    def max_lat(self) -> float:
        return self[3]

    def contains(self, lon: float, lat: float, *, margin: float = 0.0) -> bool:
        return (
            self.min_lon - margin <= lon <= self.max_lon + margin
            and self.min_lat - margin <= lat <= self.max_lat + margin
        )


def parse_bbox(value: object) -> BBox:
    """Read ``"minLon,minLat,maxLon,maxLat"`` (or a 4-sequence) into a checked box."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise ValueError("expected 'minLon,minLat,maxLon,maxLat'")
    if len(parts) != 4:
        raise ValueError("expected four numbers: minLon,minLat,maxLon,maxLat")
    try:
        box = BBox(float(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError("every bbox value must be a number") from None
    if not (-180 <= box.min_lon < box.max_lon <= 180 and -90 <= box.min_lat < box.max_lat <= 90):
        raise ValueError(
            "bbox needs -180 <= minLon < maxLon <= 180 and -90 <= minLat < maxLat <= 90"
        )
    return box


class Settings(BaseSettings):
    """Everything a deployment can configure; see README "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="MEMORIAL_", env_file=None, extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str = ""
    secret_key: str = ""
    timezone: str = "Asia/Shanghai"
    #: GeoJSON outline of the county (WGS-84); facilities must lie inside it
    county_boundary: Path = DEFAULT_COUNTY_BOUNDARY
    #: how far outside the outline a facility may still be registered, in metres
    county_margin_m: float = Field(default=2000.0, ge=0, le=50_000)
    photo_dir: Path | None = None
    #: photos in an S3-compatible object store, ``s3://bucket/prefix``, that several app
    #: hosts share (endpoint and keys from AWS_* variables); empty: the directory photo_dir
    photo_store: str = Field(default="", max_length=1024)
    token_ttl_minutes: int = Field(default=12 * 60, ge=5, le=30 * 24 * 60)
    #: how long a township inspector's phone signed in at /m/signin stays signed in (revoked
    #: at once, like every token, by a password, role or township change, or deactivation)
    phone_session_days: int = Field(default=30, ge=1, le=90)
    onsite_radius_m: float = Field(default=150.0, gt=0, le=5000)
    onsite_max_radius_m: float = Field(default=500.0, gt=0, le=10000)
    #: failed sign-ins for one username, from any addresses, within ``login_lock_minutes``
    #: before that name is locked for ``login_lock_minutes`` (app.auth.throttle)
    login_max_failures: int = Field(default=10, ge=1, le=1000)
    #: failed sign-ins from one client address, whatever the usernames, within
    #: ``login_lock_minutes`` before that address is locked (password spraying)
    login_max_failures_per_address: int = Field(default=10, ge=1, le=1000)
    #: the window failures are counted in, and how long a lock lasts
    login_lock_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: the shortest password accepted when one is set (app.auth.passwords)
    password_min_length: int = Field(default=10, ge=8, le=128)
    #: SQLAlchemy pool size for PostgreSQL; sync routes run in a 40-thread pool
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    #: PostgreSQL: how long to wait for a connection to open, and for a free pooled one,
    #: before the request answers 503 (a stopped or unreachable database never hangs it)
    db_connect_timeout_seconds: int = Field(default=5, ge=2, le=60)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    #: how far a list's ``total`` is counted: past this many rows a first page says
    #: ``total_over`` (more than this many) instead; ``?count=exact`` counts them all
    count_limit: int = Field(default=10_000, ge=1, le=10_000_000)
    #: photos one worker process decodes at once (decoding is CPU-bound: about the cores)
    photo_decode_slots: int = Field(default=2, ge=1, le=64)
    #: the memory the pixels of the photos being decoded may take together, per worker
    #: process, in MiB; a photo whose decoding alone would need more is refused (422)
    photo_decode_memory_mb: int = Field(default=512, ge=64, le=65536)
    #: uploads that may wait for a decoding slot, and for how long, before a 503
    photo_decode_queue: int = Field(default=8, ge=0, le=1000)
    photo_decode_wait_seconds: float = Field(default=10.0, ge=0, le=120)
    #: serve /public/facilities.geojson (and /ogc without a token) with public properties
    public_map: bool = False
    #: the pages' map base layer: an XYZ tile URL ({z}/{x}/{y}, optionally {s}) of Tianditu
    #: or an intranet tile server; empty draws the outline and sites on a plain background
    tile_url: str = Field(default="", max_length=500)
    #: the attribution the tile server asks for (shown in the map's corner)
    tile_attribution: str = Field(default="", max_length=300)
    #: mark the pages' cookies Secure (sent over HTTPS only); unset means "in production".
    #: Set false only for an intranet served over plain HTTP, where Secure cookies never
    #: come back and nobody could sign in.
    cookie_secure: bool | None = None
    #: the county's name as the pages' top bar shows it
    county_name: str = Field(default="沁水县", max_length=64)
    #: the address QR plates print (``https://patrol.example.gov.cn``): what a phone in the
    #: hills can open. Empty: the address the plate sheet was requested on.
    public_url: str = Field(
        default="", max_length=200, pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$"
    )
    #: a TrueType font (.ttf or .ttc) embedded in the PDFs (plates, 一处一表, 一乡一册).
    #: Empty: the first Debian CJK font found (fonts-wqy-microhei, fonts-wqy-zenhei), else
    #: reportlab's built-in CID font STSong-Light, which PDF readers supply (app.pdf)
    pdf_font: Path | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("photo_store")
    @classmethod
    def _photo_store_url(cls, value: str) -> str:
        from app.photos.store import parse_s3_url

        if value:
            try:
                parse_s3_url(value)
            except ValueError as exc:
                raise ValueError(f"MEMORIAL_PHOTO_STORE: {exc}") from None
        return value

    @field_validator("pdf_font")
    @classmethod
    def _font_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"MEMORIAL_PDF_FONT: no font file at {value}")
        return value

    @field_validator("county_boundary")
    @classmethod
    def _readable_boundary(cls, value: Path) -> Path:
        # fail at startup, not on the first registration: the outline must parse
        from app.geo.outline import load_outline

        try:
            load_outline(value)
        except ValueError as exc:
            raise ValueError(f"MEMORIAL_COUNTY_BOUNDARY: {exc}") from None
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'memorial.db').as_posix()}"
        if self.photo_dir is None:
            self.photo_dir = self.data_dir / "photos"
        if self.env == "production":
            if not self.secret_key:
                raise ValueError(
                    "MEMORIAL_SECRET_KEY must be set in production "
                    "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            if len(self.secret_key) < 32:
                raise ValueError("MEMORIAL_SECRET_KEY must be at least 32 characters long")
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def secure_cookies(self) -> bool:
        return self.env == "production" if self.cookie_secure is None else self.cookie_secure

    @property
    def photo_path(self) -> Path:
        assert self.photo_dir is not None
        return self.photo_dir

    def signing_key(self) -> str:
        """The JWT key: configured, or (development only) generated once into the data dir."""
        if not self.secret_key:
            self.secret_key = _development_key(self.data_dir / "secret_key")
        return self.secret_key


def _development_key(key_file: Path) -> str:
    """Read the generated development key, creating it atomically if no worker has yet."""
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.write_text(secrets.token_urlsafe(48))
    tmp.chmod(0o600)
    try:
        os.link(tmp, key_file)  # atomic: exactly one worker's key wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return key_file.read_text().strip()


def get_settings() -> Settings:
    return Settings()
