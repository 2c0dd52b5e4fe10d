"""The search tool's Lambda handler: the caller's own preprocessed documents, ranked for a query.

Preprocess writes each document's chunks under `work/preprocess/<caller sub>/<request id>/` in the
data lake; this reads only the calling user's prefix (the caller is the hub envelope's `subject`,
set by the front door from the caller's token, never by the model), so one caller's search never
sees another's text. What it reads is bounded: the newest documents first, up to a chunk budget.

A warm function keeps the chunks it has read (by key and ETag: a chunk written again is read again,
and only keys listed under this caller's prefix are ever looked up), and reads the ones it has not
several at a time: a search lists the caller's prefix and reads only what is new since the last.
Reading every chunk one by one on every call made a search slower the more its caller had
preprocessed (seconds per call under load; a batch of calls outlasted the function's timeout and
was dead-lettered whole).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import Field

from contracts.tools import ToolInput, quoted
from search_documents_tool.ranking import MAX_RESULTS, Passage, rank
from shared import aws
from shared.config import LakeSettings, load_settings
from shared.tool import ToolError, serve_tool

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectTypeDef

CHUNKS_PREFIX = "work/preprocess/"
MAX_CHUNKS_SEARCHED = 400
MAX_BYTES_SEARCHED = 8 * 1024 * 1024
MAX_QUERY_CHARACTERS = 500
PASSAGE_CHARACTERS = 1500  # per hit: ten hits fit inside one tool answer (MAX_ANSWER_CHARACTERS)
CACHE_BYTES = 32 * 1024 * 1024  # chunk text a warm function keeps (its memory is 256 MB)
READERS = 8  # chunks read at once


class ChunkCache:
    """Chunk texts by (key, ETag), the least recently used dropped beyond `limit` bytes."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self._limit = limit
        self._texts: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> str | None:
        with self._lock:
            text = self._texts.get(key)
            if text is not None:
                self._texts.move_to_end(key)
            return text

    def put(self, key: tuple[str, str], text: str) -> None:
        with self._lock:
            if key in self._texts or len(text) > self._limit:
                return
            self._texts[key] = text
            self._size += len(text)
            while self._size > self._limit:
                _, dropped = self._texts.popitem(last=False)
                self._size -= len(dropped)


class DocumentStore:
    def __init__(self, bucket: str, s3: S3Client, chunks: ChunkCache | None = None) -> None:
        self._bucket = bucket
        self._s3 = s3
        self._chunks = chunks if chunks is not None else ChunkCache()

    def passages(self, caller: str) -> list[Passage]:
        """The caller's chunks, newest documents first, within the search's budget."""
        prefix = f"{CHUNKS_PREFIX}{caller}/"
        objects: list[ObjectTypeDef] = []
        arguments: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix}
        while True:
            page = self._s3.list_objects_v2(**arguments)
            objects.extend(page.get("Contents", []))
            if not page.get("IsTruncated"):
                break
            arguments["ContinuationToken"] = page["NextContinuationToken"]
        objects.sort(key=lambda item: (item["LastModified"], item["Key"]), reverse=True)
        chosen, read = [], 0
        for item in objects[:MAX_CHUNKS_SEARCHED]:
            if read + int(item["Size"]) > MAX_BYTES_SEARCHED:
                break
            read += int(item["Size"])
            chosen.append(item)
        passages = []
        for item, text in zip(chosen, self._texts(chosen), strict=True):
            document, _, name = item["Key"][len(prefix) :].partition("/")
            passages.append(
                Passage(document=document, chunk=int(name.split("-")[-1].split(".")[0]), text=text)
            )
        return passages

    def _texts(self, objects: list[ObjectTypeDef]) -> list[str]:
        """The objects' texts, in order: from the cache, or read (several at once) and kept."""
        keys = [(item["Key"], item.get("ETag", "")) for item in objects]
        texts = [self._chunks.get(key) for key in keys]
        missing = [key for key, text in zip(keys, texts, strict=True) if text is None]
        if missing:
            with ThreadPoolExecutor(max_workers=READERS) as readers:
                found = dict(zip(missing, readers.map(self._read, missing), strict=True))
            texts = [text if text is not None else found[key] for key, text in zip(keys, texts, strict=True)]
        return [text or "" for text in texts]

    def _read(self, key: tuple[str, str]) -> str:
        response = self._s3.get_object(Bucket=self._bucket, Key=key[0])
        text = response["Body"].read().decode()
        if response.get("ETag"):  # kept under the version read, whatever the listing said
            self._chunks.put((key[0], response["ETag"]), text)
        return text


@cache
def store() -> DocumentStore:
    return DocumentStore(load_settings(LakeSettings).DATA_LAKE_BUCKET, aws.s3())


class SearchInput(ToolInput):
    """What the search takes; its registered InputSchema (template.yaml) says the same."""

    query: str = Field(
        min_length=1, max_length=MAX_QUERY_CHARACTERS, description="What to look for, in a few words."
    )
    max_results: int = Field(
        default=5, ge=1, le=MAX_RESULTS, description="How many passages at most (5 when left out)."
    )


def search(arguments: SearchInput, caller: str) -> str:
    query = arguments.query
    if not query.strip():
        raise ToolError('give what to look for, in words: {"query": "battery life"}')
    hits = rank(query, store().passages(caller), arguments.max_results)
    if not hits:
        return (
            f"No passage of your documents matches {quoted(query)}. Preprocess a document first to search it."
        )
    lines = [f"{len(hits)} passage(s) of your documents match {quoted(query)}, best first:"]
    for n, hit in enumerate(hits, 1):
        passage = " ".join(hit.text.split())
        if len(passage) > PASSAGE_CHARACTERS:
            passage = passage[:PASSAGE_CHARACTERS] + " ..."
        lines.append(f"[{n}] document {hit.document}, part {hit.chunk + 1}: {passage}")
    return "\n".join(lines)


lambda_handler = serve_tool(search, SearchInput)
