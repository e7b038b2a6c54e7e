"""Images made on the fly for photo tests."""

import io
import struct
import zlib

from PIL import Image


def jpeg(
    size: tuple[int, int] = (200, 100),
    *,
    colour: tuple[int, int, int] = (200, 30, 30),
    gps: tuple[float, float] | None = (112.4, 35.683333),
    taken: str | None = "2026:11:28 10:30:00",
    offset: str | None = None,
    orientation: int | None = None,
) -> bytes:
    """A JPEG with EXIF GPS (lon, lat), capture time and orientation as asked."""
    image = Image.new("RGB", size, colour)
    exif = image.getexif()
    if orientation:
        exif[0x0112] = orientation
    details = exif.get_ifd(0x8769)
    if taken:
        details[0x9003] = taken
    if offset:
        details[0x9011] = offset
    if gps:
        lon, lat = gps
        gps_ifd = exif.get_ifd(0x8825)
        gps_ifd.update({1: "N", 2: _dms(lat), 3: "E", 4: _dms(lon)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
    return (float(degrees), float(minutes), seconds)


def encoded(kind: str, size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 120, 200) if mode == "RGB" else 128).save(out, kind)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width``×``height`` but carries almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )
