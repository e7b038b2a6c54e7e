from datetime import date

import pytest

from app.schedule.qingming import qingming

# 清明 as published in the Chinese calendar (中国天文年历 / 万年历)
KNOWN = {
    1995: 5, 1996: 4, 1997: 5, 1998: 5, 1999: 5, 2000: 4, 2001: 5, 2002: 5, 2003: 5,
    2004: 4, 2005: 5, 2006: 5, 2007: 5, 2008: 4, 2009: 4, 2010: 5, 2011: 5, 2012: 4,
    2013: 4, 2014: 5, 2015: 5, 2016: 4, 2017: 4, 2018: 5, 2019: 5, 2020: 4, 2021: 4,
    2022: 5, 2023: 5, 2024: 4, 2025: 4, 2026: 5, 2027: 5, 2028: 4, 2029: 4, 2030: 5,
}  # fmt: skip


@pytest.mark.parametrize(("year", "day"), sorted(KNOWN.items()))
def test_qingming_matches_the_published_date(year: int, day: int) -> None:
    assert qingming(year) == date(year, 4, day)


def test_qingming_falls_on_april_4_to_6_for_every_year_from_1900_to_2100() -> None:
    days = {qingming(year) for year in range(1900, 2101)}
    assert {(d.month, d.day) for d in days} <= {(4, 4), (4, 5), (4, 6)}
    assert len(days) == 201


@pytest.mark.parametrize("year", [1899, 2101])
def test_years_outside_the_range_are_refused(year: int) -> None:
    with pytest.raises(ValueError):
        qingming(year)
