"""The search tool's reading of a caller's chunks: the caller's prefix only, newest first, and an
index kept between calls, so a chunk is read and indexed once, not on every search; a search that
runs short of time answers from what it has indexed and the next goes on from there."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from search_documents_tool.handler import MAX_CHUNKS_SEARCHED, READ_BATCH, DocumentStore, Found, IndexFolder

BUCKET = "lake"
START = datetime(2026, 1, 1, tzinfo=UTC)
PLENTY: Callable[[], float] = lambda: 30.0  # noqa: E731 - seconds left, as shared.tool.time_left says


class NoSuchKey(Exception):
    pass


class FakeS3:
    """list_objects_v2 (with a delimiter too), head_object and get_object over a dict of keys,
    counting the requests that read."""

    class exceptions:
        NoSuchKey = NoSuchKey

    def __init__(self) -> None:
        self.objects: dict[str, tuple[str, datetime, dict[str, str]]] = {}
        self.reads: list[str] = []
        self.heads: list[str] = []
        self.lists: list[str] = []
        self._lock = threading.Lock()

    def write(self, key: str, text: str, minutes: int, metadata: dict[str, str] | None = None) -> None:
        self.objects[key] = (text, START + timedelta(minutes=minutes), metadata or {})

    @staticmethod
    def etag(text: str) -> str:
        return f'"{hashlib.md5(text.encode()).hexdigest()}"'  # noqa: S324 - S3's own ETag

    def list_objects_v2(self, Bucket: str, Prefix: str, Delimiter: str = "", **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.lists.append(Prefix)
        keys = sorted(key for key in self.objects if key.startswith(Prefix))
        if Delimiter:
            folders = sorted(
                {
                    Prefix + key[len(Prefix) :].split(Delimiter)[0] + Delimiter
                    for key in keys
                    if Delimiter in key[len(Prefix) :]
                }
            )
            return {"CommonPrefixes": [{"Prefix": folder} for folder in folders], "IsTruncated": False}
        contents = [
            {
                "Key": key,
                "Size": len(self.objects[key][0]),
                "LastModified": self.objects[key][1],
                "ETag": self.etag(self.objects[key][0]),
            }
            for key in keys
        ]
        return {"Contents": contents, "IsTruncated": False}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        with self._lock:
            self.heads.append(Key)
        if Key not in self.objects:
            raise botocore.exceptions.ClientError({"Error": {"Code": "404"}}, "HeadObject")
        text, at, metadata = self.objects[Key]
        return {"ContentLength": len(text), "LastModified": at, "ETag": self.etag(text), "Metadata": metadata}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        with self._lock:
            self.reads.append(Key)
        if Key not in self.objects:
            raise NoSuchKey(Key)
        text = self.objects[Key][0]
        return {"Body": io.BytesIO(text.encode()), "ETag": self.etag(text)}


@pytest.fixture
def folder(tmp_path: Path) -> IndexFolder:
    return IndexFolder(tmp_path)


def store(s3: FakeS3, folder: IndexFolder, clock: Callable[[], float] | None = None) -> DocumentStore:
    if clock is None:
        return DocumentStore(BUCKET, s3, folder)  # type: ignore[arg-type]
    return DocumentStore(BUCKET, s3, folder, clock)  # type: ignore[arg-type]


def texts(found: Found) -> set[str]:
    return {hit.text for hit in found.hits}


def test_a_search_finds_the_callers_chunks_and_reads_no_one_elses(folder: IndexFolder) -> None:
    s3 = FakeS3()
    s3.write("work/preprocess/ada/r1/chunk-0000.txt", "old note", 1)
    s3.write("work/preprocess/ada/r2/chunk-0001.txt", "new note", 2)
    s3.write("work/preprocess/bob/r3/chunk-0000.txt", "bob's secret note", 3)

    found = store(s3, folder).search("ada", "note", 10, PLENTY)

    assert sorted((hit.document, hit.chunk, hit.text) for hit in found.hits) == [
        ("r1", 0, "old note"),
        ("r2", 1, "new note"),
    ]
    assert not any("bob" in key for key in s3.reads)
    assert found == Found(found.hits, unread=0, beyond_budget=0)


def test_a_warm_search_reads_nothing_it_has_indexed_and_a_rewritten_or_deleted_chunk_is_noticed(
    folder: IndexFolder,
) -> None:
    s3 = FakeS3()
    for number in range(30):
        s3.write(f"work/preprocess/ada/r{number}/chunk-0000.txt", f"note {number}", number)
    documents = store(s3, folder)

    first = documents.search("ada", "note", 10, PLENTY)
    again = documents.search("ada", "note", 10, PLENTY)
    reads_after_two = len(s3.reads)
    s3.write("work/preprocess/ada/r30/chunk-0000.txt", "note 30 written last", 30)
    s3.write("work/preprocess/ada/r0/chunk-0000.txt", "zero written again", 31)
    del s3.objects["work/preprocess/ada/r5/chunk-0000.txt"]
    third = documents.search("ada", "note zero", 10, PLENTY)

    assert len(first.hits) == 10
    assert again.hits == first.hits
    assert reads_after_two == 30  # the second search read nothing
    assert len(s3.reads) == 32  # then only the new chunk and the rewritten one
    assert "zero written again" in texts(third)
    assert not {"note 0", "note 5"} & texts(documents.search("ada", "note", 10, PLENTY))
    assert len(s3.reads) == 32


def test_the_index_outlives_the_store_that_built_it(folder: IndexFolder) -> None:
    s3 = FakeS3()
    s3.write("work/preprocess/ada/r1/chunk-0000.txt", "the pump moves water", 1)
    store(s3, folder).search("ada", "pump", 5, PLENTY)

    found = store(s3, folder).search("ada", "pump", 5, PLENTY)  # a new store: the next invocation

    assert texts(found) == {"the pump moves water"}
    assert len(s3.reads) == 1


def test_a_search_short_of_time_answers_from_what_it_indexed_and_the_next_goes_on_from_there(
    folder: IndexFolder,
) -> None:
    s3 = FakeS3()
    documents = 3 * READ_BATCH
    for number in range(documents):
        s3.write(f"work/preprocess/ada/r{number:03d}/chunk-0000.txt", f"walrus {number}", number)
    ticks = iter(range(10_000))
    seconds_left = iter([30.0, 1.5])  # one batch (which takes 1 s on this clock), then too little

    first = store(s3, folder, clock=lambda: float(next(ticks))).search(
        "ada", "walrus", 10, lambda: next(seconds_left)
    )
    second = store(s3, folder).search("ada", "walrus", 10, PLENTY)

    assert first.unread == documents - READ_BATCH
    assert len(first.hits) == 10
    # The newest documents were read first.
    assert {hit.document for hit in first.hits} <= {
        f"r{n:03d}" for n in range(documents - READ_BATCH, documents)
    }
    assert second.unread == 0
    assert sorted(s3.reads) == sorted(set(s3.reads))  # nothing was read twice
    assert len(s3.reads) == documents


def test_a_search_with_no_time_left_reads_nothing_and_says_so(folder: IndexFolder) -> None:
    s3 = FakeS3()
    s3.write("work/preprocess/ada/r1/chunk-0000.txt", "a note", 1)

    found = store(s3, folder).search("ada", "note", 5, lambda: 0.0)

    assert found == Found([], unread=1, beyond_budget=0)
    assert s3.reads == []


def test_documents_past_the_budget_are_counted_not_read_the_newest_first(folder: IndexFolder) -> None:
    s3 = FakeS3()
    for number, name in enumerate(["old", "middle", "new"]):
        write_document(s3, "ada", name, [f"line {number}-{n}" for n in range(150)], number)

    found = store(s3, folder).search("ada", "line", 5, PLENTY)

    assert found.beyond_budget == 150  # 450 chunks; the budget takes whole documents up to 400
    assert sorted(s3.reads) == [
        "work/preprocess/ada/middle/chunks.json",
        "work/preprocess/ada/new/chunks.json",
    ]


def test_a_document_past_the_budget_alone_is_searched_in_its_first_chunks(folder: IndexFolder) -> None:
    s3 = FakeS3()
    for number in range(MAX_CHUNKS_SEARCHED + 7):
        s3.write(f"work/preprocess/ada/r1/chunk-{number:04d}.txt", f"line {number}", number)

    found = store(s3, folder).search("ada", "line", 5, PLENTY)

    assert found.beyond_budget == 7
    assert len(s3.reads) == MAX_CHUNKS_SEARCHED
    assert f"work/preprocess/ada/r1/chunk-{MAX_CHUNKS_SEARCHED:04d}.txt" not in s3.reads


def test_an_object_that_is_no_chunk_is_never_read_nor_a_passage(folder: IndexFolder) -> None:
    s3 = FakeS3()
    s3.write("work/preprocess/ada/r1/chunk-0000.txt", "kept note", 1)
    s3.write("work/preprocess/ada/r1/notes.json", "a stray note", 2)
    s3.write("work/preprocess/ada/stray.txt", "a stray note", 3)

    found = store(s3, folder).search("ada", "note", 5, PLENTY)

    assert texts(found) == {"kept note"}
    assert s3.reads == ["work/preprocess/ada/r1/chunk-0000.txt"]


def test_a_document_deleted_since_it_was_listed_is_passed_over_and_forgotten(folder: IndexFolder) -> None:
    s3 = FakeS3()
    write_document(s3, "ada", "r1", ["a kept note"], 1)
    write_document(s3, "ada", "r2", ["a note about to go"], 2)
    documents = store(s3, folder)
    original = s3.head_object

    def deleted_after_its_head(**kwargs: Any) -> dict[str, Any]:
        head = original(**kwargs)
        if "/r2/" in kwargs["Key"]:
            for key in [key for key in s3.objects if "/r2/" in key]:
                del s3.objects[key]
        return head

    s3.head_object = deleted_after_its_head  # type: ignore[method-assign]
    first = documents.search("ada", "note", 5, PLENTY)
    second = documents.search("ada", "note", 5, PLENTY)

    assert texts(first) == texts(second) == {"a kept note"}


def test_a_document_is_forgotten_once_it_is_gone_from_the_lake(folder: IndexFolder) -> None:
    s3 = FakeS3()
    write_document(s3, "ada", "r1", ["a private note"], 1)
    documents = store(s3, folder)
    assert texts(documents.search("ada", "private", 5, PLENTY)) == {"a private note"}

    for key in list(s3.objects):
        del s3.objects[key]

    assert documents.search("ada", "private", 5, PLENTY).hits == []


def test_the_least_recently_searched_callers_index_goes_first_beyond_the_bound(tmp_path: Path) -> None:
    s3 = FakeS3()
    for caller in ("ada", "bob", "cy"):
        for number in range(20):
            s3.write(
                f"work/preprocess/{caller}/r1/chunk-{number:04d}.txt", f"{caller} word {number} " * 40, number
            )
    sizing = IndexFolder(tmp_path / "sizing")
    store(s3, sizing).search("ada", "word", 5, PLENTY)
    one_index = sizing.file("ada").stat().st_size
    folder = IndexFolder(tmp_path / "bounded", limit=int(2.5 * one_index))
    documents = store(s3, folder)

    documents.search("ada", "word", 5, PLENTY)
    documents.search("bob", "word", 5, PLENTY)
    documents.search("ada", "word", 5, PLENTY)  # ada's now the most recent
    documents.search("cy", "word", 5, PLENTY)

    assert folder.file("ada").exists()
    assert folder.file("cy").exists()
    assert not folder.file("bob").exists()
    assert sum(path.stat().st_size for path in folder.path.iterdir()) <= int(2.5 * one_index)


def test_an_index_file_that_is_not_a_database_is_built_again(folder: IndexFolder) -> None:
    s3 = FakeS3()
    s3.write("work/preprocess/ada/r1/chunk-0000.txt", "the pump moves water", 1)
    folder.file("ada").write_bytes(b"torn " * 1000)

    found = store(s3, folder).search("ada", "pump", 5, PLENTY)

    assert texts(found) == {"the pump moves water"}


def test_index_folders_of_processes_that_ended_are_removed_and_others_kept(tmp_path: Path) -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    gone = tmp_path / f"search-index-{int(ended.stdout)}"
    alive = tmp_path / f"search-index-{os.getppid()}"
    for path in (gone, alive):
        path.mkdir()
        (path / "x.sqlite").write_text("x")

    folder = IndexFolder(tmp_path)

    assert not gone.exists()
    assert alive.exists()
    assert folder.path == tmp_path / f"search-index-{os.getpid()}"


def write_document(
    s3: FakeS3, caller: str, document: str, chunks: list[str], minutes: int, whole: bool = True
) -> None:
    """A document as preprocess leaves it: its chunks, then all of them in one object."""
    for number, text in enumerate(chunks):
        s3.write(f"work/preprocess/{caller}/{document}/chunk-{number:04d}.txt", text, minutes)
    if whole:
        s3.write(
            f"work/preprocess/{caller}/{document}/chunks.json",
            json.dumps({"chunks": chunks}),
            minutes,
            {"chunks": str(len(chunks))},
        )


def test_a_document_not_indexed_yet_is_read_whole_in_one_request(folder: IndexFolder) -> None:
    s3 = FakeS3()
    write_document(s3, "ada", "r1", [f"otter line {n}" for n in range(50)], 1)

    found = store(s3, folder).search("ada", "otter", 10, PLENTY)

    assert s3.reads == ["work/preprocess/ada/r1/chunks.json"]
    assert len(found.hits) == 10
    assert {hit.document for hit in found.hits} == {"r1"}
    assert all(hit.text.startswith("otter line ") for hit in found.hits)  # the object itself is no passage


def test_a_chunk_the_whole_object_lacks_is_read_by_itself(folder: IndexFolder) -> None:
    s3 = FakeS3()
    write_document(s3, "ada", "r1", ["heron one", "heron two"], 1)
    s3.write("work/preprocess/ada/r1/chunks.json", json.dumps({"chunks": ["heron one"]}), 1, {"chunks": "2"})

    found = store(s3, folder).search("ada", "heron", 10, PLENTY)

    assert texts(found) == {"heron one", "heron two"}
    assert s3.reads == ["work/preprocess/ada/r1/chunks.json", "work/preprocess/ada/r1/chunk-0001.txt"]


def test_a_warm_search_asks_only_after_documents_it_has_not_seen(folder: IndexFolder) -> None:
    s3 = FakeS3()
    for number in range(20):
        write_document(s3, "ada", f"r{number:02d}", [f"note {number} a", f"note {number} b"], number)
    documents = store(s3, folder)
    documents.search("ada", "note", 5, PLENTY)
    s3.reads.clear()
    s3.heads.clear()
    s3.lists.clear()
    write_document(s3, "ada", "r20", ["note twenty"], 20)

    found = documents.search("ada", "twenty", 5, PLENTY)

    assert texts(found) == {"note twenty"}
    assert s3.lists == ["work/preprocess/ada/"]  # one listing: a line per document, not per chunk
    assert s3.heads == ["work/preprocess/ada/r20/chunks.json"]
    assert s3.reads == ["work/preprocess/ada/r20/chunks.json"]
