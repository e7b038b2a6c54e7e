"""Languages for the pages: Chinese (zh_CN) first, English by a switch or the browser.

Strings are written in English in templates and code (``_("Overdue")``) and translated
from gettext catalogs read with babel. The Chinese catalog is split by page area —
``locale/zh_CN/LC_MESSAGES/*.po``, one file per area, merged when first used — so two
areas never edit one file. ``tests/web/test_catalogs.py`` extracts every string the
templates and ``app/web`` mark and fails when one has no Chinese translation.

English needs no catalog: its strings are the msgids themselves.
"""

import gettext
import io
from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Literal

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

Locale = Literal["zh_CN", "en"]
LOCALES: tuple[Locale, ...] = ("zh_CN", "en")
DEFAULT_LOCALE: Locale = "zh_CN"
LOCALE_DIR = Path(__file__).parent / "locale"
#: the cookie the language switch sets ("zh_CN" or "en"); it outranks Accept-Language
LANG_COOKIE = "mp_lang"

_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def catalog_files(locale: str = "zh_CN") -> list[Path]:
    return sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po"))


def merged_catalog(locale: str = "zh_CN") -> Catalog:
    """Every area's ``.po`` file for ``locale`` in one catalog (a msgid in two files must
    carry the same translation; the catalog test checks that)."""
    merged = Catalog(locale=locale, domain="messages")
    for path in catalog_files(locale):
        with path.open("rb") as handle:
            part = read_po(handle, locale=locale)
        for message in part:
            if message.id and message.string and not message.fuzzy:
                merged[message.id] = message
    return merged


@cache
def translations(locale: Locale) -> gettext.NullTranslations:
    if locale == "en":
        return gettext.NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, merged_catalog(locale))
    buffer.seek(0)
    return Translations(fp=buffer, domain="messages")


def gettext_for(locale: Locale) -> "Gettext":
    return Gettext(locale)


class Gettext:
    """``_("...")`` bound to one locale, with ``%(name)s`` formatting like Jinja's newstyle."""

    def __init__(self, locale: Locale) -> None:
        self.locale = locale
        self._t = translations(locale)

    def __call__(self, message: str, **values: object) -> str:
        text = self._t.gettext(message)
        return text % values if values else text

    def n(self, singular: str, plural: str, count: int, **values: object) -> str:
        text = self._t.ngettext(singular, plural, count)
        return text % {"num": count, **values}


def N_(message: str) -> str:
    """Marks a string for the catalog without translating it here (labels in tables)."""
    return message


def negotiate(
    cookie: str | None, accept_language: str | None, *, default: Locale = DEFAULT_LOCALE
) -> Locale:
    """The switch's cookie first; then the browser's ``Accept-Language`` by its q values;
    ``default`` (Chinese for the pages) when neither says."""
    if cookie in LOCALES:
        return cookie  # type: ignore[return-value]
    for tag in _by_preference(accept_language or ""):
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return default


def _by_preference(header: str) -> Iterable[str]:
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]


# --- formats ---------------------------------------------------------------------------


def format_date(value: date | datetime | None, locale: Locale) -> str:
    """``2025年4月4日`` in Chinese, ``4 Apr 2025`` in English; '—' for nothing."""
    if value is None:
        return "—"
    if locale == "zh_CN":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {_EN_MONTHS[value.month - 1]} {value.year}"


def format_datetime(value: datetime | None, locale: Locale, tz: object) -> str:
    """The date as above and the time of day in the county's time zone."""
    if value is None:
        return "—"
    local = value.astimezone(tz)  # type: ignore[arg-type]
    return f"{format_date(local, locale)} {local:%H:%M}"


def format_money(fen: int | None) -> str:
    """Integer fen as yuan with two decimals: ``1234567`` → ``¥12,345.67``."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def format_count(count: int | None, unit: str, locale: Locale, over: int | None = None) -> str:
    """``12 处`` in Chinese; in English the unit's msgid (``12 sites``, ``1 site``). A list
    counted only up to its limit (``count`` None, ``over`` the limit, app.listing):
    ``超过 10,000 处``, ``more than 10,000 sites``."""
    if count is None and over is not None:
        _ = Gettext(locale)
        return _("more than %(count)s", count=f"{over:,} {_(unit)}")
    if locale == "en" and count == 1 and unit.endswith("s"):
        return f"1 {unit[:-1]}"
    return f"{count:,} {Gettext(locale)(unit)}"


def format_distance(metres: float | None, locale: Locale) -> str:
    if metres is None:
        return "—"
    if metres >= 10_000:
        km = f"{metres / 1000:,.1f}"
        return f"{km} 公里" if locale == "zh_CN" else f"{km} km"
    return f"{metres:,.0f} 米" if locale == "zh_CN" else f"{metres:,.0f} m"


def enum_label(value: StrEnum | str | None, locale: Locale) -> str:
    """The vocabulary's Chinese label (``app.vocabulary``), or the value in words in English."""
    if value is None:
        return "—"
    text = str(value)
    if locale == "zh_CN":
        labels = _zh_labels()
        if isinstance(value, StrEnum):
            return labels.get((type(value), text), labels.get(text, text))
        return labels.get(text, text)
    return text.replace("_", " ")


@cache
def _zh_labels() -> dict[object, str]:
    """Labels keyed by enum member (two vocabularies may share a value such as "other"),
    and by plain value for the first vocabulary that has it."""
    from app.models import enums

    labels: dict[object, str] = {}
    for name in dir(enums):
        table = getattr(enums, name)
        if name.endswith("_LABELS_ZH") and isinstance(table, dict):
            for member, label in table.items():
                labels[(type(member), str(member))] = label
                labels.setdefault(str(member), label)
    return labels
