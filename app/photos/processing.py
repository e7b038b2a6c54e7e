"""Photo processing: sniff the type from the bytes, bound the pixels, read EXIF time and
GPS, apply the orientation, and re-encode without any metadata (DESIGN.md rule 6)."""

import io
import logging
import math
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from PIL import Image

from app.errors import AppError, InvalidInput, UnsupportedMediaType
from app.photos.gate import MIB, DecodeGate

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
#: the most pixels a photo may declare. Phones send 1,600 px (the phone form scales them)
#: and cameras 12–24 MP in their usual modes; 40 MP still takes a full-frame camera's
#: largest JPEG, while a 48 MP phone mode has to be lowered. The header decides, before
#: any pixel is decoded.
MAX_PIXELS = 40_000_000
#: JPEGs are decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling: cheap and sharp),
#: the least that brings their long side within this, and stored at that size; PNG and
#: WebP keep their own size (no reduced decoding exists for them)
JPEG_MAX_SIDE = 4096
MAX_PHOTOS = 8
THUMBNAIL_PX = 320

# Pillow refuses at open beyond twice this; between, our own check refuses before decoding.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_FORMATS = {
    "JPEG": ("image/jpeg", ".jpg"),
    "PNG": ("image/png", ".png"),
    "WEBP": ("image/webp", ".webp"),
}
_EXIF_IFD, _GPS_IFD, _ORIENTATION = 0x8769, 0x8825, 0x0112
_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL, _DATETIME = 0x9003, 0x9011, 0x0132
#: bytes per pixel of Pillow's image modes (every other mode takes 4)
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
#: the modes ``Image.reduce`` shrinks without a full-size conversion first
_REDUCIBLE = {"L", "RGB", "CMYK", "I", "F"}


@dataclass(frozen=True)
class ProcessedPhoto:
    content_type: str
    suffix: str
    image: bytes
    thumbnail: bytes
    width: int
    height: int
    taken_at: datetime | None
    exif_longitude: float | None
    exif_latitude: float | None


def sniff(data: bytes) -> str | None:
    """The image format by its magic bytes (never by a file name or a declared type)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_cost(image: Image.Image, kind: str, declared: tuple[int, int], size: int) -> int:
    """The bytes decoding ``image`` (opened, not yet loaded; ``size`` bytes uploaded) may
    hold at its peak.

    The decoded pixels, and room for one more full-size image beside them: the transposed
    copy that applies the EXIF orientation, or the premultiplied copy ``reduce`` makes of
    an image with alpha for the thumbnail; the code never holds a third. Decoders add
    their own: a progressive JPEG buffers every DCT coefficient of the full-size image (2
    bytes per sample, whatever the scale it is decoded at); libwebp and Pillow's WebP
    plugin measured 18 (RGB) to 26 (RGBA) bytes per pixel at their peak, so WebP counts
    28 in all. Then the encoded output and the thumbnail: a margin of 16 MiB and three
    times the upload. Measured peaks at 40 MP: PNG RGB 154 MiB (counted 320), PNG RGBA
    turned upright 307 (320), progressive JPEG 4:4:4 turned upright 267 (320), baseline
    JPEG decoded at 1/2 scale 41 (93), WebP RGBA 1,003 (1,081).
    """
    width, height = image.size
    cost = width * height * _MODE_BYTES.get(image.mode, 4) * 2 + 16 * MIB + 3 * size
    if kind == "JPEG" and (image.info.get("progressive") or image.info.get("progression")):
        cost += declared[0] * declared[1] * 2 * max(1, len(image.getbands()))
    elif kind == "WEBP":
        cost += width * height * 20
    return cost


def process(data: bytes, *, local_tz: tzinfo, gate: DecodeGate | None = None) -> ProcessedPhoto:
    """Check and clean one uploaded photo; raises 415/422 errors the client can act on,
    and 503 when ``gate`` finds no room to decode it soon enough."""
    kind = sniff(data)
    if kind is None:
        raise UnsupportedMediaType(
            "Only JPEG, PNG or WebP photos are accepted (judged by the bytes)"
        )
    too_many = f"The photo has more than {MAX_PIXELS / 1e6:g} megapixels, the most accepted"
    try:
        with warnings.catch_warnings():
            # Pillow warns between its limit and twice it; our own check below decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[kind])  # reads the header only
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise InvalidInput(
                ("body", "file"),
                f"The photo is {width}×{height} = {width * height / 1e6:.1f} megapixels;"
                f" at most {MAX_PIXELS / 1e6:g} are accepted",
            )
        if kind == "JPEG":
            _draft(image)
        cost = decode_cost(image, kind, (width, height), len(data))
        if gate is not None and cost > gate.budget_bytes:
            raise InvalidInput(
                ("body", "file"),
                f"The photo is {width}×{height}: decoding it would take"
                f" {math.ceil(cost / MIB)} MiB, more than the {gate.budget_bytes // MIB} MiB"
                " this server sets aside for photos",
            )
        with gate.reserve(cost) if gate is not None else nullcontext():
            processed = _clean(image, kind, local_tz)
    except Image.DecompressionBombError:
        raise InvalidInput(("body", "file"), too_many) from None
    except AppError:
        raise
    except Exception:  # whatever a malformed file makes the decoder raise
        log.info("undecodable photo", exc_info=True)
        raise InvalidInput(
            ("body", "file"),
            "The photo could not be decoded: the file is damaged or incomplete; take it again",
        ) from None
    return processed


def _draft(image: Image.Image) -> None:
    """Have libjpeg decode a JPEG over ``JPEG_MAX_SIDE`` at the least power-of-two scale
    (at most 1/8) that brings its long side within it."""
    scale = 1
    while scale < 8 and max(image.size) > JPEG_MAX_SIDE * scale:
        scale *= 2
    if scale > 1:
        image.draft(image.mode, (image.width // scale, image.height // scale))


def _clean(image: Image.Image, kind: str, local_tz: tzinfo) -> ProcessedPhoto:
    """Decode, read the metadata, turn upright, re-encode and make the thumbnail, holding
    at most two full-size images at any moment (``decode_cost``)."""
    image.load()
    taken_at, position, orientation = _metadata(image, local_tz)
    # Only the colour profile travels on: no EXIF, XMP, comments or text chunks.
    icc = image.info.get("icc_profile")
    if orientation is not None:
        upright = image.transpose(orientation)
        image.close()  # frees the decoded original's pixels now, not when collected
        image = upright
    image.info = {"icc_profile": icc} if icc else {}
    stored = _encode(image, kind)
    thumbnail = _thumbnail(image)
    content_type, suffix = _FORMATS[kind]
    return ProcessedPhoto(
        content_type=content_type,
        suffix=suffix,
        image=stored,
        thumbnail=thumbnail,
        width=image.width,
        height=image.height,
        taken_at=taken_at,
        exif_longitude=position[0] if position else None,
        exif_latitude=position[1] if position else None,
    )


#: EXIF Orientation → the transpose that shows the picture upright
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _metadata(
    image: Image.Image, local_tz: tzinfo
) -> tuple[datetime | None, tuple[float, float] | None, Image.Transpose | None]:
    """Capture time, GPS position and orientation from EXIF; none of them if it is broken.

    We read the orientation ourselves rather than with ``ImageOps.exif_transpose``, which
    re-serialises the EXIF and fails on tags of the wrong type; it is discarded anyway.
    """
    try:
        exif = image.getexif()
        orientation = exif.get(_ORIENTATION)
    except Exception:  # a broken EXIF block is no reason to refuse the photo
        return None, None, None
    transpose = _ORIENTATIONS.get(orientation) if isinstance(orientation, int) else None
    try:
        taken_at = _taken_at(exif, local_tz)
    except Exception:
        taken_at = None
    try:
        position = _gps(exif)
    except Exception:
        position = None
    return taken_at, position, transpose


def _encode(image: Image.Image, kind: str) -> bytes:
    """Re-encode with no EXIF, XMP or comments: only the pixels (and colour profile) leave."""
    out = io.BytesIO()
    icc = image.info.get("icc_profile")
    if kind == "JPEG":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=90, icc_profile=icc, exif=b"")
    elif kind == "PNG":
        image.save(out, "PNG", icc_profile=icc, exif=b"")
    else:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        image.save(out, "WEBP", quality=85, icc_profile=icc, exif=b"")
    return out.getvalue()


def _thumbnail(image: Image.Image) -> bytes:
    # Shrink to about twice the thumbnail first without a full-size copy (``thumbnail``
    # works on a copy of what it is given), then let ``thumbnail`` resample properly.
    factor = max(1, max(image.size) // (THUMBNAIL_PX * 2))
    if factor == 1:
        thumb = image.copy()
    elif image.mode in _REDUCIBLE or image.mode in ("LA", "RGBA"):
        thumb = image.reduce(factor)
    else:  # palette, 1-bit, 16-bit: nearest neighbour keeps the mode and needs no copy
        thumb = image.resize(
            (math.ceil(image.width / factor), math.ceil(image.height / factor)),
            Image.Resampling.NEAREST,
        )
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    if thumb.mode in ("RGBA", "LA", "P", "PA"):
        rgba = thumb.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        thumb = background
    elif thumb.mode != "RGB":
        thumb = thumb.convert("RGB")
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=80)
    return out.getvalue()


def _taken_at(exif: Image.Exif, local_tz: tzinfo) -> datetime | None:
    """DateTimeOriginal (with its offset if the camera wrote one, else county time), in UTC."""
    details = exif.get_ifd(_EXIF_IFD)
    raw = details.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone = _offset(details.get(_OFFSET_TIME_ORIGINAL)) or local_tz
    try:
        moment = moment.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError:  # a camera clock at year 1 or 9999
        return None
    return moment if 1900 <= moment.year <= 2100 else None


def _offset(value: object) -> tzinfo | None:
    if not isinstance(value, str) or len(value.strip("\x00 ")) != 6:
        return None
    text = value.strip("\x00 ")
    try:
        sign = 1 if text[0] == "+" else -1 if text[0] == "-" else None
        if sign is None:
            return None
        return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6])))
    except ValueError:
        return None


def _gps(exif: Image.Exif) -> tuple[float, float] | None:
    gps = exif.get_ifd(_GPS_IFD)
    try:
        lat = _degrees(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
        lon = _degrees(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        return None
    return round(lon, 7), round(lat, 7)


def _degrees(value: object) -> float:
    d, m, s = (float(part) for part in value)  # type: ignore[union-attr]
    return d + m / 60 + s / 3600
