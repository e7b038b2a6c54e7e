"""Qingming (清明): the day the Sun's apparent ecliptic longitude reaches 15°, in Beijing time.

A solar term, not a fixed date: it falls on April 4, 5 or 6. We find the instant with
PyEphem's VSOP87 solar theory (arc-second accuracy, so the instant is good to well under
a minute) and take its date in UTC+8, the time the Chinese calendar is reckoned in.
"""

import math
from datetime import date, timedelta
from functools import lru_cache

import ephem

QINGMING_LONGITUDE_DEG = 15.0
_BEIJING = timedelta(hours=8)


def _apparent_solar_longitude(moment: float) -> float:
    """The Sun's apparent geocentric ecliptic longitude (degrees, equinox of date)."""
    sun = ephem.Sun(moment)
    equatorial = ephem.Equatorial(sun.g_ra, sun.g_dec, epoch=moment)
    return math.degrees(ephem.Ecliptic(equatorial, epoch=moment).lon)


@lru_cache(maxsize=512)
def qingming(year: int) -> date:
    """The date of Qingming in ``year`` (1900–2100)."""
    if not 1900 <= year <= 2100:
        raise ValueError("Qingming is computed for the years 1900 to 2100")
    low = float(ephem.Date(f"{year}/3/28"))
    high = low + 14  # the longitude rises ~1°/day and crosses 15° around April 4–6
    while high - low > 1e-6:  # bisect to a tenth of a second
        middle = (low + high) / 2
        if _apparent_solar_longitude(middle) < QINGMING_LONGITUDE_DEG:
            low = middle
        else:
            high = middle
    moment = ephem.Date(high).datetime() + _BEIJING
    return moment.date()
