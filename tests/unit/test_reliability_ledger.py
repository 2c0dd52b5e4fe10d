"""docs/reliability.md names the tests behind each case: every test it names must exist."""

from __future__ import annotations

import re

from agenthub import PROJECT_ROOT

LEDGER = PROJECT_ROOT / "docs" / "reliability.md"
# Under tests/ (unit/..., integration/..., e2e/...), or a tool stack's own tests (tools/<name>/tests/...).
_FILE = re.compile(r"(?:tools/\w+/tests|unit|integration|e2e)/test_\w+\.py")
_TEST = re.compile(r"\btest_\w+\b(?!\.py)")


def test_every_test_the_ledger_names_exists_in_the_files_it_names() -> None:
    named = 0
    for row in LEDGER.read_text().splitlines():
        if not row.startswith("| ") or "test_" not in row:
            continue
        files = [
            PROJECT_ROOT / path if path.startswith("tools/") else PROJECT_ROOT / "tests" / path
            for path in _FILE.findall(row)
        ]
        assert files, f"a row names tests but no test file: {row}"
        sources = "".join(path.read_text() for path in files)
        for test in _TEST.findall(row):
            assert f"def {test}(" in sources, f"docs/reliability.md names {test}, which {files} lack"
            named += 1
    assert named >= 40
