"""What a caller sees of a request: its lake objects as links, never a bucket path."""

from __future__ import annotations

import json

from front_door.views import WITHHELD, handed_over

MINE = "s3://lake/work/preprocess/alice/r1/chunk-0000.txt"
THEIRS = "s3://lake/work/preprocess/bob/r9/chunk-0000.txt"


def readable(uri: str) -> bool:
    return uri.startswith("s3://lake/work/preprocess/alice/r1/")


def presign(uri: str) -> str:
    return "https://lake.s3.example/" + uri.rsplit("/", 1)[-1] + "?X-Amz-Signature=abc"


def test_the_callers_objects_become_links_under_url_and_nothing_else_names_the_lake() -> None:
    result = {
        "chunks": [{"index": 0, "ref": MINE, "tokens": 3}, {"index": 1, "ref": THEIRS}],
        "stats": {"chunks": 2},
        "note": f"copied from {THEIRS} yesterday",
        "sources": [MINE, "s3://other-bucket/x"],
    }

    shown = handed_over(result, readable, presign)

    assert shown["chunks"][0] == {"index": 0, "url": presign(MINE), "tokens": 3}
    assert shown["chunks"][1] == {"index": 1, "ref": WITHHELD}
    assert shown["note"] == f"copied from {WITHHELD} yesterday"
    assert shown["sources"] == [presign(MINE), WITHHELD]
    assert shown["stats"] == {"chunks": 2}
    assert "s3://" not in json.dumps(shown)


def test_values_without_lake_paths_pass_unchanged() -> None:
    value = {"output_text": "s3 is a service", "n": 3, "ok": True, "none": None, "list": [1.5, "x"]}

    assert handed_over(value, readable, presign) == value
