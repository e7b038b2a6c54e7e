"""Reading what page forms send: filters left on "All", and whole numbers typed or chosen."""

from pydantic import BeforeValidator


def _blank_is_none(value: object) -> object:
    """A filter form's "All" option sends ``tier=``: the same as no filter."""
    return None if value == "" else value


#: for optional query parameters that a filter form may send empty
Blank = BeforeValidator(_blank_is_none)


def whole_number(text: str, *, digits: int = 9) -> int | None:
    """ASCII digits only, at most ``digits`` of them (an id, a year); else None.

    Not ``str.isdigit``: it admits "²", which ``int`` refuses; and not unbounded: twenty
    digits overflow the database's integer.
    """
    text = text.strip()
    if text and len(text) <= digits and text.isascii() and text.isdecimal():
        return int(text)
    return None
