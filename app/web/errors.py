"""The API's error messages, in the page's language.

Services raise ``AppError`` with English text (the API's language). A page shows it next
to the action it concerns, translated by the patterns registered here: a regex with
named groups over the English text, and the msgid the catalog translates with those
groups (``%(name)s``). Page modules register the messages their actions can meet
(``register``); text with no pattern is shown as the API gave it. The API's own answers
use these patterns too, after those of ``app.web.api_errors``.
"""

import re
from typing import Any

from app.web.i18n import Gettext


class Patterns:
    """English messages, as regexes with named groups, and the msgids that translate them."""

    def __init__(self) -> None:
        self._pairs: list[tuple[re.Pattern[str], str]] = []

    def register(self, *pairs: tuple[str, str]) -> None:
        """``register((r"Facility (?P<id>\\d+) not found", N_("Facility %(id)s was not found")))``

        The first pattern that matches wins.
        """
        for pattern, msgid in pairs:
            self._pairs.append((re.compile(pattern, re.DOTALL), msgid))

    def translate(self, text: str, _: Gettext) -> str | None:
        """``text`` by the first pattern that matches all of it; None when none does."""
        for pattern, msgid in self._pairs:
            match = pattern.fullmatch(text)
            if match:
                return _(msgid, **{k: v for k, v in match.groupdict().items() if v is not None})
        return None


#: the pages' patterns: each page area registers the messages its actions can meet
PAGES = Patterns()
register = PAGES.register


def translate(detail: Any, _: Gettext) -> str:
    """One readable line (or a few) from an error's ``detail``."""
    if isinstance(detail, list):
        lines = []
        for item in detail:
            if isinstance(item, dict):
                field = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query"))
                text = translate(str(item.get("msg", "")), _)
                label = _(field) if field else ""
                if _.locale != "en" and label == field:
                    label = ""  # a parameter's name, untranslated: not shown in Chinese
                lines.append(f"{label}: {text}" if label else text)
            else:
                lines.append(translate(item, _))
        return "; ".join(lines)
    text = str(detail)
    if _.locale == "en":
        return text
    exact = _(text)
    if exact != text:
        return exact
    return PAGES.translate(text, _) or text
