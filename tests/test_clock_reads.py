"""The suite reads the clock only when a test runs, and only the Python clock.

A time computed at import or collection ("15 minutes from now" in a ``parametrize`` list)
is stale by the time a slow machine reaches its test. ``MEMORIAL_TEST_CLOCK_SHIFT`` (see
``conftest.py``) proves the suite holds when slow; this scan names the culprit before
anyone has to wait for that. The shift moves Python's clock only, so the app and the
migrations must not take timestamps from the database server either.
"""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

# datetime.now(), date.today(), datetime.utcnow(), time.time(), local_today(tz), ...
CLOCK_CALLS = {"now", "today", "utcnow", "local_today", "county_today", "time_ns"}
SERVER_CLOCK = re.compile(
    r"(?<![.\w])now\(\)|func\.(now|current_timestamp|current_date|localtimestamp)\b"
    r"|\bcurrent_(timestamp|date|time)\b|\blocaltimestamp\b|datetime\('now'"
    r"|\b(statement|clock|transaction)_timestamp\b",
    re.IGNORECASE,
)


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _reads_clock(call: ast.Call, clock_readers: set[str]) -> bool:
    name = _called_name(call)
    if name == "time":  # time.time(), not the datetime.time(10, 0) constructor
        return not call.args and not call.keywords
    return name in CLOCK_CALLS or name in clock_readers


def _calls(node: ast.AST) -> Iterator[ast.Call]:
    return (n for n in ast.walk(node) if isinstance(n, ast.Call))


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    return (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))


def _run_when_imported(node: ast.AST) -> Iterator[ast.AST]:
    """The parts of a module evaluated at import: everything but function bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from child.decorator_list
            yield from child.args.defaults
            yield from (d for d in child.args.kw_defaults if d is not None)
        elif isinstance(child, ast.Lambda):
            yield from child.args.defaults
        elif isinstance(child, ast.If) and ast.unparse(child.test) == "__name__ == '__main__'":
            continue  # a module run as a script (a test's subprocess), never on import
        elif isinstance(child, ast.ClassDef | ast.If | ast.With | ast.Try):
            yield from (part for part in ast.iter_child_nodes(child) if isinstance(part, ast.expr))
            yield from _run_when_imported(child)
        else:
            yield child


def _clock_readers(trees: list[ast.Module]) -> set[str]:
    """Names of test helpers that read the clock, directly or through another helper."""
    bodies = {f.name: f for tree in trees for f in _functions(tree)}
    readers: set[str] = set()
    while True:
        found = {
            name
            for name, function in bodies.items()
            if name not in readers and any(_reads_clock(call, readers) for call in _calls(function))
        }
        if not found:
            return readers
        readers |= found


def clock_reads_at_import(paths: list[Path]) -> list[str]:
    """``path:line: call`` for every clock read that runs at import or collection."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in paths}
    readers = _clock_readers(list(trees.values()))
    return sorted(
        f"{path.name}:{call.lineno}: {ast.unparse(call)}"
        for path, tree in trees.items()
        for part in _run_when_imported(tree)
        for call in _calls(part)
        if _reads_clock(call, readers)
    )


def test_no_test_reads_the_clock_when_it_is_imported_or_collected() -> None:
    assert clock_reads_at_import(sorted(TESTS.rglob("*.py"))) == []  # compute it in the test


def test_the_scan_finds_clock_reads_in_constants_parametrize_and_defaults(
    tmp_path: Path,
) -> None:
    module = tmp_path / "test_example.py"
    module.write_text(
        "from datetime import UTC, datetime, time, timedelta\n"
        "import pytest\n"
        "def _in(**delta):\n"
        "    return datetime.now(UTC) + timedelta(**delta)\n"
        "def _later(**delta):\n"
        "    return _in(**delta).isoformat()\n"
        "NOON = time(12, 0)\n"
        "SOON = _in(minutes=15)\n"
        "@pytest.mark.parametrize('when', [_later(days=-61)])\n"
        "def test_a(when, today=datetime.today()):\n"
        "    assert _in(minutes=1)\n"
        "class TestB:\n"
        "    STAMP = __import__('time').time()\n"
        "    def test_c(self):\n"
        "        assert datetime.now(UTC)\n",
        encoding="utf-8",
    )
    assert clock_reads_at_import([module]) == [
        "test_example.py:10: datetime.today()",
        "test_example.py:13: __import__('time').time()",
        "test_example.py:8: _in(minutes=15)",
        "test_example.py:9: _later(days=-61)",
    ]


def test_timestamps_come_from_python_not_from_the_database_server() -> None:
    sources = [
        path
        for folder in ("app", "migrations", "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != Path(__file__).resolve()
    ]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SERVER_CLOCK.search(line)
    ]
    assert found == [], "write utcnow() from Python: the test clock shift does not reach it"
