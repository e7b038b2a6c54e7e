"""The API's errors in Chinese, for a client whose ``Accept-Language`` prefers it.

The inspectors' phone form shows an error's ``detail`` as the reason a report or a photo
was refused. The API speaks English; a request that prefers ``zh…`` (by the header's
q values) gets the same ``detail`` translated from the pages' catalogs, the API's own
messages in ``locale/zh_CN/LC_MESSAGES/api.po``. The shape stays: a string stays a
string, and in a 422's list each ``msg`` is translated (with the field's Chinese name in
front) while ``loc`` and ``type`` stay as they are, for clients that act on them.

The header decides, not the pages' language cookie: API clients have no cookie, and the
phone page sends the header itself. Without it the answer stays in English.
"""

from collections.abc import Sequence
from typing import Any

from app.models.enums import ChecklistItem
from app.web import errors as web_errors
from app.web.i18n import N_, Gettext, enum_label, gettext_for, negotiate

#: messages that do not say which field they are about: the field's name goes in front
FIELD_MESSAGES = web_errors.Patterns()
#: messages that say it all, and those that are about no field
MESSAGES = web_errors.Patterns()

# Pydantic's and FastAPI's messages for a request that does not fit its schema.
FIELD_MESSAGES.register(
    (r"Field required", N_("Required")),
    (r"Extra inputs are not permitted", N_("Not a field of this request: leave it out")),
    (
        r"Input should be (?P<choices>'[^']*'(?:, '[^']*')*) or (?P<last>'[^']*')",
        N_("Should be one of %(choices)s or %(last)s"),
    ),
    (r"Input should be (?P<value>'[^']*')", N_("Should be %(value)s")),
    (
        r"Input should be a valid dictionary( or object to extract fields from)?",
        N_("Should be a JSON object"),
    ),
    (
        r"Input should be a valid UUID.*|UUID input should be a string, bytes or UUID object",
        N_("Should be a UUID, such as 0b6c5a3e-8f2d-4c1a-9e7b-2d4f6a8c0e1f"),
    ),
    (r"Input should be a valid integer.*", N_("Enter a whole number")),
    (r"Input should be a valid number.*|Input should be a finite number", N_("Enter a number")),
    (r"Input should be a valid boolean.*", N_("Should be true or false")),
    (r"Input should be a valid string", N_("Should be text")),
    (r"Input should be a valid list", N_("Should be a list")),
    (
        r"Input should be a valid datetime.*|Input should have timezone info",
        N_("Should be a date and time with its UTC offset, such as 2025-04-04T09:30:00+08:00"),
    ),
    (r"Input should be a valid date.*", N_("Enter a date such as 2025-04-04")),
    (r"Input should be greater than or equal to (?P<n>\S+)", N_("At least %(n)s")),
    (r"Input should be less than or equal to (?P<n>\S+)", N_("At most %(n)s")),
    (r"Input should be greater than (?P<n>\S+)", N_("More than %(n)s")),
    (r"Input should be less than (?P<n>\S+)", N_("Less than %(n)s")),
    (r"String should have at least (?P<n>\d+) characters?", N_("At least %(n)s characters")),
    (r"String should have at most (?P<n>\d+) characters?", N_("At most %(n)s characters")),
    (r"String should match pattern .*", N_("Not in the expected format")),
    (r"JSON decode error", N_("Not valid JSON")),
    (r"List should not repeat a value", N_("Each value may appear only once")),
    # app.schemas' validators (pydantic puts "Value error, " in front)
    (r"(Value error, )?must be between 1900 and 2100", N_("Enter a date between 1900 and 2100")),
    (r"(Value error, )?is out of range", N_("Out of range")),
    (
        r"(Value error, )?must not contain control characters|"
        r"(Value error, )?is not valid Unicode text \(unpaired surrogate\)",
        N_("The text contains characters that cannot be stored"),
    ),
    (
        r"bbox: (expected four numbers|every bbox value must be a number|bbox needs)\b.*",
        N_("Should be four numbers: west, south, east, north (minLon,minLat,maxLon,maxLat)"),
    ),
)

MESSAGES.register(
    (
        r"(Value error, )?Expected UploadFile, received: .*",
        N_("Send the photo as a file (the form field file)"),
    ),
    (
        r"The request body could not be read: send JSON \(or a form\) in UTF-8",
        N_("The request could not be read: send JSON (or a form) in UTF-8"),
    ),
)

# Signing in, roles and the browser's CSRF token (app.security, app.deps).
MESSAGES.register(
    (
        r"Not signed in: send 'Authorization: Bearer <token>'",
        N_("Not signed in: sign in first (send 'Authorization: Bearer <token>')"),
    ),
    (r"Your session has expired: sign in again", N_("Your session has expired: sign in again")),
    (
        r"The access token is not valid: sign in again",
        N_("The access token is not valid: sign in again"),
    ),
    (
        r"This account no longer exists or has been deactivated",
        N_("This account no longer exists or has been deactivated"),
    ),
    (
        r"Your password or access changed since you signed in: sign in again",
        N_("Your password or access changed since you signed in: sign in again"),
    ),
    (
        r"The CSRF token does not match this browser's session: reload the page",
        N_("The CSRF token does not match this browser's session: reload the page"),
    ),
    (r"This needs the admin role; you are a \w+ user", N_("Only administrators may do this")),
    (
        r"This needs the admin or county role; you are a \w+ user",
        N_("Only county staff may do this"),
    ),
)

# Patrol reports (app.inspections.service) and what they look up.
MESSAGES.register(
    (
        r"Facility (?P<id>\d+) not found",
        N_("Facility %(id)s was not found, or it is not in your township"),
    ),
    (r"Facility not found", N_("No facility has this plate, or it is not in your area")),
    (
        r"Inspection (?P<id>\d+) not found",
        N_("Patrol report %(id)s was not found, or it is not in your township"),
    ),
    (
        r"Photo (?P<id>\d+) not found",
        N_("Photo %(id)s was not found, or it is not in your township"),
    ),
    (
        r"Facility (?P<id>\d+) is archived, not active; it takes no reports",
        N_("Facility %(id)s is archived: it takes no patrol reports"),
    ),
    (
        r"Facility (?P<id>\d+) is relocated, not active; it takes no reports",
        N_("Facility %(id)s has been moved into a cemetery: it takes no patrol reports"),
    ),
    (
        r"Facility (?P<id>\d+) is merged, not active; it takes no reports",
        N_("Facility %(id)s has been merged into another: it takes no patrol reports"),
    ),
    (
        r"A different report was already submitted with client_id \S+ \(receipt "
        r"(?P<receipt>[^)]*)\); give a new report a new client_id",
        N_(
            "Another patrol report (receipt %(receipt)s) was already submitted with this"
            " client_id: a new report needs a new client_id"
        ),
    ),
    (
        r"The client_id \S+ is already taken; give this report a new client_id and send it"
        r" again",
        N_("This report's client_id is already taken: give the report a new one and send it again"),
    ),
    (
        r"A different allocation was already recorded with client_id \S+ \(allocation"
        r" (?P<id>\d+), (?P<document_no>.*)\); give a new allocation a new client_id",
        N_(
            "Another allocation (%(id)s, %(document_no)s) was already recorded with this"
            " client_id: a new allocation needs a new client_id"
        ),
    ),
    (
        r"A different maintenance order was already opened with client_id \S+ \(order"
        r" (?P<id>\d+)\); give a new order a new client_id",
        N_(
            "Another maintenance order (%(id)s) was already opened with this client_id:"
            " a new order needs a new client_id"
        ),
    ),
    (
        r"The client_id \S+ is already taken; give this order a new client_id and send it"
        r" again",
        N_("This order's client_id is already taken: give the order a new one and send it again"),
    ),
    (
        r"inspected_at is more than (?P<minutes>\d+) minutes in the future; "
        r"check the phone's clock",
        N_(
            "The inspection time is more than %(minutes)s minutes in the future:"
            " check the phone's clock"
        ),
    ),
    (
        r"inspected_at is more than (?P<days>\d+) days ago; reports that old are not accepted",
        N_("The inspection time is more than %(days)s days ago: reports that old are not accepted"),
    ),
    (
        r"Say why the report is rejected \(comment\)",
        N_("Say why the report is rejected (comment)"),
    ),
    # app.facilities.service: the record photo (全景/正面照片) must be the facility's own
    (
        r"Photo (?P<id>\d+) is not a photo of this facility \(record_photo_id\)",
        N_("Photo %(id)s is not a photo of this facility: choose one of its own photos"),
    ),
    (
        r"plate_code is not the plate code of this facility; scan the plate again",
        N_("The scanned plate code (plate_code) is not this facility's: scan the plate again"),
    ),
)

# The plate sheet (app.plates.router): which plates to print.
MESSAGES.register(
    (
        r"Name a township_id or at least one facility_id",
        N_("Choose a township (township_id) or at least one facility (facility_id)"),
    ),
    (
        r"Township (?P<id>\d+) not found",
        N_("Township %(id)s was not found, or it is not in your area"),
    ),
    (
        r"Set MEMORIAL_PUBLIC_URL to the address phones reach before printing plates.*",
        N_(
            "Set MEMORIAL_PUBLIC_URL to the address phones reach before printing plates: "
            "a plate's QR code must not hold this server's internal address"
        ),
    ),
)
FIELD_MESSAGES.register(
    (
        r"List should have at most (?P<n>\d+) items? after validation, not \d+",
        N_("At most %(n)s items"),
    ),
)

# Photos (app.photos) and the body limit (app.limits, app.errors).
MESSAGES.register(
    (
        r"The photo is [\d,]+ bytes; at most [\d,]+ \((?P<mib>\d+) MiB\) are accepted",
        N_("The photo is too large: a photo may be at most %(mib)s MB"),
    ),
    (
        r"Only JPEG, PNG or WebP photos are accepted \(judged by the bytes\)",
        N_("Only JPEG, PNG or WebP photos are accepted (judged by the file's content)"),
    ),
    (
        r"The photo has more than (?P<max>[\d.]+) megapixels, the most accepted",
        N_("The photo has more than %(max)s megapixels: lower the camera's resolution"),
    ),
    (
        r"The photo is (?P<width>\d+)×(?P<height>\d+) = (?P<mp>[\d.]+) megapixels; "
        r"at most (?P<max>[\d.]+) are accepted",
        N_(
            "The photo is %(width)s×%(height)s, %(mp)s megapixels; at most %(max)s are"
            " accepted: lower the camera's resolution"
        ),
    ),
    (
        r"The photo is (?P<width>\d+)×(?P<height>\d+): decoding it would take (?P<need>\d+) MiB,"
        r" more than the (?P<budget>\d+) MiB this server sets aside for photos",
        N_(
            "The photo is %(width)s×%(height)s: processing it would take %(need)s MB of memory,"
            " more than the %(budget)s MB this server sets aside: lower the camera's resolution"
        ),
    ),
    (
        r"The server is busy processing other photos; send this photo again in a moment",
        N_("The server is busy processing other photos: the photo will be sent again shortly"),
    ),
    (
        r"The photo could not be decoded: the file is damaged or incomplete; take it again",
        N_("The photo could not be read: the file is damaged or incomplete; take it again"),
    ),
    (
        r"Inspection (?P<id>\d+) already has (?P<n>\d+) photos, the most it can hold",
        N_("Patrol report %(id)s already has %(n)s photos, the most it can hold"),
    ),
    (
        r"Order (?P<id>\d+) \(\w+\) already has (?P<n>\d+) photos, the most it can hold",
        N_("Order %(id)s already has %(n)s photos at this stage, the most it can hold"),
    ),
    (
        r"The photo's file is missing from the photo store",
        N_("The photo's file is missing: tell the county administrator"),
    ),
    (
        r"The photo store \S* cannot be reached; try again in a moment \(\w+\)",
        N_("The photo store cannot be reached just now: the photo will be sent again shortly"),
    ),
    (
        r"The request body is too large: a photo may be at most (?P<size>[\d.]+) MiB",
        N_("The upload is too large: a photo may be at most %(size)s MB"),
    ),
    (
        r"The request body is too large: a spreadsheet may be at most (?P<size>[\d.]+) MiB",
        N_("The upload is too large: a spreadsheet may be at most %(size)s MB"),
    ),
    (
        r"The request body is too large: at most (?P<size>[\d.]+ [KM])iB is accepted here",
        N_("The request is too large: at most %(size)sB is accepted here"),
    ),
    (r"The request body is too large", N_("The request is too large")),
    # app.listing: list pages by cursor
    (r"Send either cursor or offset, not both", N_("Send either cursor or offset, not both")),
    (
        r"The cursor is not valid \(.*\): send the 'next' of the page before, unchanged",
        N_("The cursor is not valid: send the 'next' of the page before, unchanged"),
    ),
    # app.errors' handlers
    (
        r"No such endpoint: (?P<method>\S+) (?P<path>.*)",
        N_("No such endpoint: %(method)s %(path)s"),
    ),
    (
        r"(?P<method>\S+) is not allowed on (?P<path>.*)",
        N_("%(method)s is not allowed on %(path)s"),
    ),
    (
        r"The database is busy or unreachable; please retry shortly",
        N_("The database is busy or unreachable; please retry shortly"),
    ),
    # app.audit.chain: a write while the audit chain's head is missing
    (
        r"Changes cannot be saved now: the audit log's chain head is missing; an administrator"
        r" must run 'memorial audit-verify' and repair the database",
        N_(
            "Changes cannot be saved now: the audit log's chain head is missing; an"
            " administrator must run 'memorial audit-verify' and repair the database"
        ),
    ),
)

#: the Chinese name a 422's ``msg`` starts with, by the last name in its ``loc`` that has one
FIELD_LABELS = {
    "client_id": N_("Report id (client_id)"),
    "facility_id": N_("Facility id"),
    "inspected_at": N_("Inspection time"),
    "condition": N_("Condition"),
    "checklist": N_("Checklist"),
    "notes": N_("Note"),
    "position": N_("Position"),
    "longitude": N_("Longitude"),
    "latitude": N_("Latitude"),
    "accuracy_m": N_("Position accuracy"),
    "crs": N_("Coordinate system"),
    "plate_code": N_("Plate code"),
    "record_photo_id": N_("Record photo (record_photo_id)"),
    "file": N_("Photo file"),
    "inspection_id": N_("Patrol report id"),
    "photo_id": N_("Photo id"),
    "decision": N_("Review decision"),
    "comment": N_("Review comment"),
    "limit": N_("Rows per page"),
    "offset": N_("Rows to skip"),
    "cursor": N_("Page cursor"),
    "count": N_("Count (count)"),
    "township_id": N_("Township"),
    "tier": N_("Tier"),
    "kind": N_("Kind"),
    "status": N_("Status"),
    "q": N_("Search"),
    "bbox": N_("Map area (bbox)"),
    "zoom": N_("Map zoom level"),
    "state": N_("Patrol state"),
    "overdue": N_("Overdue"),
    "sort": N_("Sort order"),
}
_CHECKLIST_ITEMS = {item.value: item for item in ChecklistItem}


def prefers_chinese(accept_language: str | None) -> bool:
    """Whether ``Accept-Language`` ranks Chinese above English (no header: English)."""
    return negotiate(None, accept_language, default="en") == "zh_CN"


def localize(detail: Any, accept_language: str | None) -> tuple[Any, dict[str, str]]:
    """``detail`` in the client's language, and the headers to answer it with."""
    headers = {"Vary": "Accept-Language"}
    if not prefers_chinese(accept_language):
        return detail, headers
    translated = translate_detail(detail, gettext_for("zh_CN"))
    if translated != detail:
        headers["Content-Language"] = "zh-CN"
    return translated, headers


def translate_detail(detail: Any, _: Gettext) -> Any:
    """A string as a string, a 422's list as a list with each ``msg`` translated."""
    if isinstance(detail, str):
        return translate_message(detail, _)
    if isinstance(detail, list):
        return [_translate_item(item, _) for item in detail]
    return detail


def translate_message(text: str, _: Gettext) -> str:
    """One message: the API's patterns first, then the pages' (untranslated: as it was)."""
    return (
        FIELD_MESSAGES.translate(text, _)
        or MESSAGES.translate(text, _)
        or web_errors.translate(text, _)
    )


def _translate_item(item: Any, _: Gettext) -> Any:
    """One error of a 422: ``msg`` translated, with the field's name if it does not say it."""
    if not isinstance(item, dict) or not isinstance(item.get("msg"), str):
        return item
    text = FIELD_MESSAGES.translate(item["msg"], _)
    if text is not None:
        label = _field_label(item.get("loc") or (), str(item.get("type", "")), _)
        return {**item, "msg": f"{label}：{text}" if label else text}
    return {**item, "msg": translate_message(item["msg"], _)}


def _field_label(loc: Sequence[Any], kind: str, _: Gettext) -> str:
    """The Chinese name of the field ``loc`` points at ('' when it has none)."""
    names = [p for p in loc if isinstance(p, str) and p not in ("body", "query", "path", "[key]")]
    if not names:
        return _("Request body") if list(loc[:1]) == ["body"] else ""
    if len(names) >= 2 and names[-2] == "checklist" and names[-1] in _CHECKLIST_ITEMS:
        item = enum_label(_CHECKLIST_ITEMS[names[-1]], _.locale)
        return _("Checklist item %(item)s", item=item)
    if kind == "extra_forbidden":
        return names[-1]  # a name the client made up: shown as it was sent
    for name in reversed(names):
        if name in FIELD_LABELS:
            return _(FIELD_LABELS[name])
    return ""
