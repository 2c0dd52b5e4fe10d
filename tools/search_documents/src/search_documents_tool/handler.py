"""The search tool's Lambda handler: the caller's own preprocessed documents, ranked for a query.

Preprocess writes each document's chunks under `work/preprocess/<caller sub>/<request id>/` in the
data lake; this reads only the calling user's prefix (the caller is the hub envelope's `subject`,
set by the front door from the caller's token, never by the model), so one caller's search never
sees another's text. What it searches is bounded: the newest documents first, up to a chunk budget.

What a search costs does not grow with what its caller has preprocessed: each caller's chunks are
kept in an FTS index of their own (ranking.SearchIndex), a file in the execution environment's
/tmp kept between calls, the least recently searched caller's dropped beyond `INDEX_BYTES`. A
search lists the caller's documents (a line per document: S3 groups the keys of each request's
folder), forgets those gone, looks once at each it has not seen (the head of the all-chunks object
preprocess writes beside the chunks: when, how many, how large), and reads each document it has
not indexed whole, in one request, newest first. A document without that object (preprocessed
before there was one) is listed and read a chunk at a time, and looked at again on every search
until it has one. Reading and indexing stop when the call's time is nearly up
(`shared.tool.time_left`): the search answers from what is indexed, says how much it has not read
yet, and the next search goes on from there. So a search answers within its timeout whatever its
caller has, rather than being killed at it, which answered nothing, was retried from nothing (a
killed process keeps nothing) and was dead-lettered.

Only the lake's own writers write there (preprocess writes `work/preprocess/`, the core writer the
catalog and results): the index is derived data, so it is kept where only this function reads and
writes it, and rebuilt from the lake when lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.exceptions
from pydantic import Field

from contracts.requests import ALL_CHUNKS
from contracts.tools import ToolInput, quoted
from search_documents_tool.ranking import MAX_RESULTS, Document, Hit, Passage, SearchIndex
from shared import aws
from shared.config import LakeSettings, load_settings
from shared.observability import logger
from shared.tool import ToolError, serve_tool, time_left

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNKS_PREFIX = "work/preprocess/"
_CHUNK_NAME = re.compile(r"chunk-(?P<number>\d+)\.txt")
MAX_CHUNKS_SEARCHED = 400
MAX_BYTES_SEARCHED = 8 * 1024 * 1024
MAX_QUERY_CHARACTERS = 500
PASSAGE_CHARACTERS = 1500  # per hit: ten hits fit inside one tool answer (MAX_ANSWER_CHARACTERS)
# The indexes an execution environment keeps in /tmp, which holds 512 MB unless the function asks
# for more: https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html
INDEX_BYTES = 256 * 1024 * 1024
READERS = 8  # chunks read at once
READ_BATCH = 32  # chunks (about) read, then indexed in one transaction, between looks at the clock


@dataclass(frozen=True)
class Found:
    """A search's hits, and what of the caller's documents it did not search."""

    hits: list[Hit]
    unread: int = 0  # chunks within the budget not indexed yet (the call ran out of time)
    beyond_budget: int = 0  # older chunks past MAX_CHUNKS_SEARCHED / MAX_BYTES_SEARCHED


class IndexFolder:
    """One SearchIndex file per caller in a folder of this process's own (Lambda gives each
    execution environment its own /tmp; the local cloud's workers share the machine's), the least
    recently used removed beyond `limit` bytes."""

    def __init__(self, root: Path | None = None, limit: int = INDEX_BYTES) -> None:
        base = root if root is not None else Path(tempfile.gettempdir())
        self.path = base / f"search-index-{os.getpid()}"
        self._limit = limit
        self._used: OrderedDict[Path, None] = OrderedDict()  # this process's files, least recent first
        _remove_folders_of_ended_processes(base)
        self.path.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.path.glob("*.sqlite"), key=lambda path: path.stat().st_mtime):
            self._used[path] = None

    def file(self, caller: str) -> Path:
        return self.path / f"{hashlib.sha256(caller.encode()).hexdigest()[:32]}.sqlite"

    @contextlib.contextmanager
    def open(self, caller: str) -> Iterator[SearchIndex]:
        path = self.file(caller)
        try:
            index = SearchIndex(path)
        except sqlite3.DatabaseError:  # not a database any more (a torn file): start it again
            path.unlink(missing_ok=True)
            index = SearchIndex(path)
        try:
            yield index
        finally:
            index.close()
            self._used.pop(path, None)
            self._used[path] = None
            self._keep_within_limit(path)

    def _keep_within_limit(self, keep: Path) -> None:
        sizes = {path: path.stat().st_size for path in self._used if path.exists()}
        total = sum(sizes.values())
        for path in list(self._used):  # least recently used first
            if total <= self._limit:
                return
            if path != keep:
                total -= sizes.get(path, 0)
                path.unlink(missing_ok=True)
                del self._used[path]


def _remove_folders_of_ended_processes(base: Path) -> None:
    """Index folders of processes that ended (a worker killed at its timeout, locally) are not
    anyone's cache any more."""
    for folder in base.glob("search-index-*"):
        pid = folder.name.removeprefix("search-index-")
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class DocumentStore:
    def __init__(
        self,
        bucket: str,
        s3: S3Client,
        indexes: IndexFolder | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bucket = bucket
        self._s3 = s3
        self._indexes = indexes if indexes is not None else IndexFolder()
        self._clock = clock

    def search(self, caller: str, query: str, limit: int, seconds: Callable[[], float]) -> Found:
        """The caller's passages that match the query best, from the newest documents within the
        budget, reading what is not indexed yet for as long as `seconds()` says there is time."""
        prefix = f"{CHUNKS_PREFIX}{caller}/"
        began = self._clock()
        names = self._document_names(prefix)
        with self._indexes.open(caller) as index:
            known = index.documents()
            index.forget(name for name in known if name not in names)
            # A document read whole is known for good (a request's chunks are made once); one known
            # only by its chunks (no all-chunks object yet) is looked at again.
            settled = {name: known[name] for name in names if name in known and known[name].version}
            looked_at = self._look_at(prefix, [name for name in names if name not in settled])
            index.know(document for document, _ in looked_at.values())
            documents = [*settled.values(), *(document for document, _ in looked_at.values())]
            chosen, beyond = _within_budget(documents)
            indexed = index.indexed()
            for document in documents:
                wanted = chosen.get(document.name, 0)
                if indexed.get(document.name, 0) > wanted:
                    index.keep_passages(document.name, wanted)
            reads = [
                read
                for document in sorted(documents, key=_newest_first)
                if document.name in chosen
                for read in self._reads(prefix, document, chosen[document.name], index, looked_at)
            ]
            listed = self._clock()
            unread = self._read_into(index, reads, seconds)
            indexed_at = self._clock()
            found = Found(index.search(query, limit), unread, beyond)
        logger.info(
            "searched",
            extra={
                "documents": len(names),
                "documents_looked_at": len(looked_at),
                "chunks_searched": sum(chosen.values()) - unread,
                "chunks_read_now": sum(len(each.chunks) for each in reads) - unread,
                "chunks_unread": unread,
                "requests_to_read": len(reads),
                "seconds_listing": round(listed - began, 3),
                "seconds_reading": round(indexed_at - listed, 3),
                "seconds_searching": round(self._clock() - indexed_at, 3),
            },
        )
        return found

    def _document_names(self, prefix: str) -> set[str]:
        """The caller's documents: one entry each, however many chunks they have (S3 groups the
        keys under each request's folder)."""
        names: set[str] = set()
        arguments: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "Delimiter": "/"}
        while True:
            page = self._s3.list_objects_v2(**arguments)
            names.update(
                entry["Prefix"][len(prefix) :].rstrip("/") for entry in page.get("CommonPrefixes", [])
            )
            if not page.get("IsTruncated"):
                return names
            arguments["ContinuationToken"] = page["NextContinuationToken"]

    def _look_at(self, prefix: str, names: list[str]) -> dict[str, tuple[Document, list[_Chunk]]]:
        """What documents not known yet are: from the head of their all-chunks object, or, for one
        without, from the listing of its chunks (then returned too). Several looked at at once."""
        with ThreadPoolExecutor(max_workers=READERS) as lookers:
            looked = lookers.map(lambda name: self._look_at_one(prefix, name), names)
            return {document.name: (document, chunks) for document, chunks in looked if document.chunks}

    def _look_at_one(self, prefix: str, name: str) -> tuple[Document, list[_Chunk]]:
        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=f"{prefix}{name}/{ALL_CHUNKS}")
            count = head.get("Metadata", {}).get("chunks", "")
            if count.isdigit():
                modified = head["LastModified"].timestamp()
                return Document(name, modified, int(count), int(head["ContentLength"]), head["ETag"]), []
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
                raise
        chunks = self._chunks_of(f"{prefix}{name}/")
        modified = max((chunk.modified for chunk in chunks), default=0.0)
        return Document(name, modified, len(chunks), sum(chunk.size for chunk in chunks)), chunks

    def _chunks_of(self, folder: str) -> list[_Chunk]:
        chunks: list[_Chunk] = []
        arguments: dict[str, Any] = {"Bucket": self._bucket, "Prefix": folder}
        while True:
            page = self._s3.list_objects_v2(**arguments)
            for item in page.get("Contents", []):
                if match := _CHUNK_NAME.fullmatch(item["Key"][len(folder) :]):
                    chunks.append(
                        _Chunk(
                            item["Key"],
                            item.get("ETag", ""),
                            int(match["number"]),
                            int(item["Size"]),
                            item["LastModified"].timestamp(),
                        )
                    )
            if not page.get("IsTruncated"):
                return sorted(chunks, key=lambda chunk: chunk.number)
            arguments["ContinuationToken"] = page["NextContinuationToken"]

    def _reads(
        self,
        prefix: str,
        document: Document,
        wanted: int,
        index: SearchIndex,
        looked_at: dict[str, tuple[Document, list[_Chunk]]],
    ) -> list[_Read]:
        """What to read of a document so that its first `wanted` chunks are indexed: nothing, the
        document whole (one request), or the chunks missing (a document without an all-chunks object)."""
        indexed = index.versions(document.name)
        if document.version:
            keys = [f"{prefix}{document.name}/chunk-{number:04d}.txt" for number in range(wanted)]
            if all(indexed.get(key) == document.version for key in keys):
                return []
            chunks = [_Chunk(key, document.version, number) for number, key in enumerate(keys)]
            return [_Read(document.name, chunks, whole=f"{prefix}{document.name}/{ALL_CHUNKS}")]
        listed = looked_at[document.name][1][:wanted]
        return [_Read(document.name, [chunk]) for chunk in listed if indexed.get(chunk.key) != chunk.version]

    def _read_into(self, index: SearchIndex, reads: list[_Read], seconds: Callable[[], float]) -> int:
        """Does the reads and indexes what they bring, a batch at a time, while a batch still fits
        in the time left (judged by the slowest batch so far); how many chunks it left unread."""
        slowest = 0.0
        batches = _batches(reads)
        with ThreadPoolExecutor(max_workers=READERS) as readers:
            for number, batch in enumerate(batches):
                if seconds() <= 2 * slowest:
                    return sum(len(read.chunks) for later in batches[number:] for read in later)
                began = self._clock()
                found = readers.map(self._texts, batch)
                index.add(
                    (chunk.key, chunk.version, Passage(read.document, chunk.number, text))
                    for read, texts in zip(batch, found, strict=True)
                    for chunk, text in zip(read.chunks, texts, strict=True)
                    if text is not None
                )
                slowest = max(slowest, self._clock() - began)
        return 0

    def _texts(self, read: _Read) -> list[str | None]:
        """The texts of a read's chunks, in order (None: gone since it was listed). A chunk the
        all-chunks object lacks is read by itself."""
        if read.whole is None:
            return [self._get(chunk.key) for chunk in read.chunks]
        body = self._get(read.whole)
        texts: list[str] = json.loads(body)["chunks"] if body is not None else []
        return [
            texts[chunk.number] if chunk.number < len(texts) else self._get(chunk.key)
            for chunk in read.chunks
        ]

    def _get(self, key: str) -> str | None:
        try:
            return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read().decode()
        except self._s3.exceptions.NoSuchKey:
            return None


@dataclass(frozen=True)
class _Chunk:
    key: str
    version: str
    number: int
    size: int = 0
    modified: float = 0.0


@dataclass(frozen=True)
class _Read:
    """Chunks of one document read together: whole through its all-chunks object, or one chunk."""

    document: str
    chunks: list[_Chunk]
    whole: str | None = None


def _newest_first(document: Document) -> tuple[float, str]:
    return (-document.modified, document.name)


def _within_budget(documents: list[Document]) -> tuple[dict[str, int], int]:
    """How many chunks of each document to search (the newest documents first, whole, until the
    next would pass MAX_CHUNKS_SEARCHED or MAX_BYTES_SEARCHED; the newest one at least in part),
    and how many chunks of older documents are left out."""
    chosen: dict[str, int] = {}
    chunks = size = 0
    for document in sorted(documents, key=_newest_first):
        if chunks + document.chunks <= MAX_CHUNKS_SEARCHED and size + document.size <= MAX_BYTES_SEARCHED:
            chosen[document.name] = document.chunks
            chunks += document.chunks
            size += document.size
            continue
        if not chosen:  # the newest document is past the budget alone: its first chunks
            per_chunk = max(1, document.size // max(1, document.chunks))
            chosen[document.name] = max(1, min(MAX_CHUNKS_SEARCHED, MAX_BYTES_SEARCHED // per_chunk))
        break
    return chosen, sum(document.chunks for document in documents) - sum(chosen.values())


def _batches(reads: list[_Read]) -> list[list[_Read]]:
    """Reads in batches of about READ_BATCH chunks (a document read whole is never split)."""
    batches: list[list[_Read]] = [[]]
    size = 0
    for read in reads:
        if size >= READ_BATCH:
            batches.append([])
            size = 0
        batches[-1].append(read)
        size += len(read.chunks)
    return [batch for batch in batches if batch]


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
    found = store().search(caller, query, arguments.max_results, time_left)
    lines = (
        [f"{len(found.hits)} passage(s) of your documents match {quoted(query)}, best first:"]
        if found.hits
        else [
            f"No passage of your documents matches {quoted(query)}. Preprocess a document first to search it."
        ]
    )
    for n, hit in enumerate(found.hits, 1):
        passage = " ".join(hit.text.split())
        if len(passage) > PASSAGE_CHARACTERS:
            passage = passage[:PASSAGE_CHARACTERS] + " ..."
        lines.append(f"[{n}] document {hit.document}, part {hit.chunk + 1}: {passage}")
    if found.unread:
        lines.append(
            f"(Not searched yet: {found.unread} older part(s) of your documents, still being read;"
            " the same search again goes on from there.)"
        )
    if found.beyond_budget:
        lines.append(
            f"(Not searched: {found.beyond_budget} older part(s) of your documents; a search reads"
            f" the newest {MAX_CHUNKS_SEARCHED} parts, {MAX_BYTES_SEARCHED // (1024 * 1024)} MiB at most.)"
        )
    return "\n".join(lines)


lambda_handler = serve_tool(search, SearchInput)
