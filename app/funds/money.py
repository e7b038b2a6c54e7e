"""Money is integer fen (分) everywhere; these helpers only format it, never via floats."""

from decimal import Decimal
from typing import Annotated

from pydantic import Field, StrictInt

#: fen as the API takes it: a JSON integer (no strings, no floats), at most 1e12 (10 billion yuan)
Fen = Annotated[StrictInt, Field(ge=0, le=1_000_000_000_000)]
PositiveFen = Annotated[StrictInt, Field(gt=0, le=1_000_000_000_000)]
Year = Annotated[StrictInt, Field(ge=2000, le=2100)]


def yuan(fen: int) -> str:
    """``123456`` → ``"1,234.56 元"``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d} 元"


def yuan_decimal(fen: int) -> Decimal:
    """Exact yuan for spreadsheets: ``123456`` → ``Decimal("1234.56")``."""
    return Decimal(fen).scaleb(-2)


def wan_yuan(fen: int) -> str:
    """Ten-thousands of yuan (万元) to 0.01, without trailing zeros: ``10``, ``80.29``."""
    sign = "-" if fen < 0 else ""
    whole, rest = divmod(abs(fen), 1_000_000)
    hundredths = (rest + 5_000) // 10_000  # round half up to 0.01 万元
    if hundredths == 100:
        whole, hundredths = whole + 1, 0
    if whole == hundredths == 0:
        sign = ""
    decimals = f"{hundredths:02d}".rstrip("0")
    return f"{sign}{whole}" + (f".{decimals}" if decimals else "")


def amount_zh(fen: int) -> str:
    """An amount as the bureau's reports write it: ``10万元``, ``80.29万元``, ``5580元``."""
    if abs(fen) >= 1_000_000:
        return f"{wan_yuan(fen)}万元"
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}" + (f".{cents:02d}" if cents else "") + "元"


def rate(part: int, whole: int) -> float | None:
    """A share rounded to four places (a ratio, not an amount); None when ``whole`` is 0."""
    if whole <= 0:
        return None
    return round(part / whole, 4)
