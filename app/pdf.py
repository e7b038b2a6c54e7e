"""What every PDF the service prints shares: a font that writes Chinese, found on this
machine and never fetched from anywhere, and the page furniture.

The font, in order (``font_name``):

1. ``MEMORIAL_PDF_FONT``: a TrueType font (``.ttf`` or ``.ttc``, first face) — embedded,
   subset to the characters used;
2. the first Debian CJK TrueType font installed: ``fonts-wqy-microhei`` (the README's
   choice; the Dockerfile installs it), then ``fonts-wqy-zenhei`` — embedded likewise, so
   the PDF prints the same on any machine;
3. otherwise reportlab's built-in CID font ``STSong-Light`` (Adobe-GB1): nothing to
   install, nothing embedded; every PDF reader supplies a Song face for it.
"""

from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont

DEBIAN_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)
CID_FONT = "STSong-Light"
EMBEDDED = "MemorialCJK"


@cache
def font_name(configured: Path | None = None) -> str:
    """Register the font once per process and return its reportlab name."""
    candidates = [configured] if configured is not None else list(DEBIAN_FONTS)
    for path in candidates:
        if path.is_file():
            name = f"{EMBEDDED}-{path.stem}"
            pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
            return name
    if configured is not None:
        raise ValueError(f"MEMORIAL_PDF_FONT: no font file at {configured}")
    pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
    return CID_FONT
