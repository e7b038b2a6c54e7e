"""Every string the pages mark for translation has its Chinese in a catalog."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app.web import i18n

WEB = Path(i18n.__file__).parent
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def marked_strings() -> dict[str, set[str]]:
    """msgid → the files that use it."""
    found: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        WEB, method_map=METHODS, options_map=OPTIONS, keywords=KEYWORDS
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, set()).add(filename)
    return found


def test_the_pages_mark_their_strings() -> None:
    found = marked_strings()
    assert "Sign in" in found and "Dashboard" in found  # the extraction itself works
    assert any(name.endswith(".html") for files in found.values() for name in files)


def test_every_marked_string_has_a_chinese_translation() -> None:
    catalog = i18n.merged_catalog("zh_CN")
    missing = {
        msgid: sorted(files)
        for msgid, files in marked_strings().items()
        if not (catalog.get(msgid) and catalog[msgid].string)
    }
    assert not missing, "no Chinese for: " + "\n".join(f"{m!r} ({f})" for m, f in missing.items())


def test_catalog_files_are_clean() -> None:
    """No fuzzy entries, and a msgid in two area files carries one translation."""
    seen: dict[str, tuple[str, str]] = {}
    for path in i18n.catalog_files("zh_CN"):
        with path.open("rb") as handle:
            catalog = read_po(handle, locale="zh_CN")
        for message in catalog:
            if not message.id:
                continue
            assert not message.fuzzy, f"{path.name}: fuzzy {message.id!r}"
            assert message.string, f"{path.name}: empty translation of {message.id!r}"
            earlier = seen.setdefault(message.id, (path.name, message.string))
            assert earlier[1] == message.string, (
                f"{message.id!r} is {earlier[1]!r} in {earlier[0]} but {message.string!r} in {path.name}"
            )


def test_a_missing_translation_would_be_found(tmp_path: Path) -> None:
    """The check above can fail: a template string absent from the catalog is reported."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "x.html").write_text('{{ _("A string nobody translated") }}')
    found = list(
        extract_from_dir(tmp_path, method_map=METHODS, options_map=OPTIONS, keywords=KEYWORDS)
    )
    assert [m[2] for m in found] == ["A string nobody translated"]
    assert i18n.merged_catalog("zh_CN").get("A string nobody translated") is None
