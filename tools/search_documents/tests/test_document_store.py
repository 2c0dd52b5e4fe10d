"""The search tool's reading of a caller's chunks: the caller's prefix only, newest first, and a
chunk read once per version by a warm function (a search reads only what is new since the last)."""

from __future__ import annotations

import hashlib
import io
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from search_documents_tool.handler import ChunkCache, DocumentStore

BUCKET = "lake"
START = datetime(2026, 1, 1, tzinfo=UTC)


class FakeS3:
    """list_objects_v2 and get_object over a dict of keys, counting the reads."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[str, datetime]] = {}
        self.reads: list[str] = []
        self._lock = threading.Lock()

    def write(self, key: str, text: str, minutes: int) -> None:
        self.objects[key] = (text, START + timedelta(minutes=minutes))

    @staticmethod
    def etag(text: str) -> str:
        return f'"{hashlib.md5(text.encode()).hexdigest()}"'  # noqa: S324 - S3's own ETag

    def list_objects_v2(self, Bucket: str, Prefix: str, **kwargs: Any) -> dict[str, Any]:
        contents = [
            {"Key": key, "Size": len(text), "LastModified": at, "ETag": self.etag(text)}
            for key, (text, at) in self.objects.items()
            if key.startswith(Prefix)
        ]
        return {"Contents": contents, "IsTruncated": False}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        with self._lock:
            self.reads.append(Key)
        text = self.objects[Key][0]
        return {"Body": io.BytesIO(text.encode()), "ETag": self.etag(text)}


def store(s3: FakeS3, chunks: ChunkCache | None = None) -> DocumentStore:
    return DocumentStore(BUCKET, s3, chunks)  # type: ignore[arg-type]


def test_a_search_reads_the_callers_chunks_newest_first_and_no_one_elses() -> None:
    s3 = FakeS3()
    s3.write("work/preprocess/ada/r1/chunk-0000.txt", "old note", 1)
    s3.write("work/preprocess/ada/r2/chunk-0001.txt", "new note", 2)
    s3.write("work/preprocess/bob/r3/chunk-0000.txt", "bob's secret", 3)

    passages = store(s3).passages("ada")

    assert [(p.document, p.chunk, p.text) for p in passages] == [("r2", 1, "new note"), ("r1", 0, "old note")]
    assert not any("bob" in key for key in s3.reads)


def test_a_warm_function_reads_each_chunk_once_and_a_rewritten_one_again() -> None:
    s3 = FakeS3()
    for number in range(30):
        s3.write(f"work/preprocess/ada/r{number}/chunk-0000.txt", f"note {number}", number)
    documents = store(s3)

    first = documents.passages("ada")
    s3.write("work/preprocess/ada/r30/chunk-0000.txt", "note 30", 30)
    s3.write("work/preprocess/ada/r0/chunk-0000.txt", "note zero, written again", 31)
    second = documents.passages("ada")

    assert len(first) == 30
    assert len(s3.reads) == 32  # thirty, then only the new chunk and the rewritten one
    assert {p.text for p in second} >= {"note 30", "note zero, written again"}
    assert "note 0" not in {p.text for p in second}


def test_the_cache_keeps_the_most_recently_used_within_its_bytes() -> None:
    chunks = ChunkCache(limit=10)
    chunks.put(("a", "1"), "aaaa")
    chunks.put(("b", "1"), "bbbb")
    assert chunks.get(("a", "1")) == "aaaa"  # now the most recently used

    chunks.put(("c", "1"), "cccc")

    assert chunks.get(("b", "1")) is None
    assert chunks.get(("a", "1")) == "aaaa"
    assert chunks.get(("c", "1")) == "cccc"
    chunks.put(("huge", "1"), "x" * 11)
    assert chunks.get(("huge", "1")) is None
