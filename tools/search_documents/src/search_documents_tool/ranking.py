"""Ranked search over a caller's documents: the search tool's logic, with SQLite's FTS5 doing the ranking.

FTS5 (SQLite's full-text search, in Python's standard library) tokenizes, stems with the Porter
stemmer and ranks with BM25: a well-kept, dependency-free ranking engine, where a hand-written
scorer would be neither.

A `SearchIndex` holds one caller's passages only, so nothing of another caller's can ever be among
its results. It is kept between calls (a file, see handler.py) and changed a chunk at a time: a
chunk is tokenized once, when it is first searched, not on every search. One index per caller
rather than one per document, because BM25 weighs a word by how few of the indexed passages hold
it: within a single document of one chunk every word is in every passage, and every match would
score the same (nothing); across the caller's documents the weights mean what they should.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MAX_RESULTS = 10
SCHEMA_VERSION = 1  # of an index file: one of another is built again


class SearchUnavailable(RuntimeError):
    """This Python's SQLite lacks FTS5; the search tool cannot rank without it."""


@dataclass(frozen=True)
class Passage:
    document: str  # the request that preprocessed it
    chunk: int
    text: str


@dataclass(frozen=True)
class Document:
    """A caller's preprocessed document as the index knows it: when it was written, how many
    chunks and bytes it has, and the version of the object it was read whole from ("" when it has
    none and is read a chunk at a time, as a document preprocessed before there was one)."""

    name: str  # the request that preprocessed it
    modified: float  # POSIX seconds
    chunks: int
    size: int
    version: str = ""


@dataclass(frozen=True)
class Hit:
    document: str
    chunk: int
    score: float
    text: str


def _match_query(query: str) -> str:
    """The words of a free-text query as an FTS5 query: any of them, each quoted (no FTS syntax leaks in)."""
    words = re.findall(r"\w+", query.lower())
    return " OR ".join(f'"{word}"' for word in words)


class SearchIndex:
    """An FTS5 index of passages, each under the key (and version) of the chunk it was read from.

    At ":memory:" it lasts as long as the object; at a path, between calls and processes."""

    def __init__(self, path: Path | str = ":memory:") -> None:
        # A cache, rebuilt from the lake when lost: no fsync (a killed process still leaves a whole
        # database, SQLite's journal sees to that; only the machine failing could tear one).
        self._db = sqlite3.connect(path, isolation_level=None)
        try:
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            if version not in (0, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"an index of schema {version}, not {SCHEMA_VERSION}")
            self._db.execute("PRAGMA synchronous = OFF")
            self._db.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(text, document UNINDEXED,"
                " chunk UNINDEXED, tokenize='porter unicode61')"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS chunks (key TEXT PRIMARY KEY, version TEXT NOT NULL,"
                " passage INTEGER NOT NULL, document TEXT NOT NULL, number INTEGER NOT NULL)"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS chunks_of ON chunks (document, number)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS documents (name TEXT PRIMARY KEY, modified REAL NOT NULL,"
                " chunks INTEGER NOT NULL, size INTEGER NOT NULL, version TEXT NOT NULL)"
            )
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as error:
            self._db.close()
            if "fts5" in str(error):
                raise SearchUnavailable(f"SQLite {sqlite3.sqlite_version} has no FTS5: {error}") from error
            raise

    def close(self) -> None:
        self._db.close()

    def versions(self, document: str | None = None) -> dict[str, str]:
        """The chunks indexed (of one document, or all), by key: the version of each that was read."""
        if document is None:
            return dict(self._db.execute("SELECT key, version FROM chunks").fetchall())
        return dict(
            self._db.execute("SELECT key, version FROM chunks WHERE document = ?", (document,)).fetchall()
        )

    def indexed(self) -> dict[str, int]:
        """How many chunks of each document are indexed."""
        return dict(self._db.execute("SELECT document, count(*) FROM chunks GROUP BY document").fetchall())

    def documents(self) -> dict[str, Document]:
        """The documents the index knows of, by name (indexed or not)."""
        rows = self._db.execute("SELECT name, modified, chunks, size, version FROM documents").fetchall()
        return {row[0]: Document(*row) for row in rows}

    def know(self, documents: Iterable[Document]) -> None:
        with self._transaction():
            for document in documents:
                self._db.execute(
                    "INSERT OR REPLACE INTO documents (name, modified, chunks, size, version)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (document.name, document.modified, document.chunks, document.size, document.version),
                )

    def forget(self, names: Iterable[str]) -> None:
        """Documents gone from the lake: what the index knew of them, and their passages."""
        with self._transaction():
            for name in names:
                self._remove_passages(name, 0)
                self._db.execute("DELETE FROM documents WHERE name = ?", (name,))

    def keep_passages(self, name: str, chunks: int) -> None:
        """Only the document's first `chunks` chunks stay indexed (0: none), to keep within a budget."""
        with self._transaction():
            self._remove_passages(name, chunks)

    def _remove_passages(self, name: str, first: int) -> None:
        rows = self._db.execute(
            "SELECT key FROM chunks WHERE document = ? AND number >= ?", (name, first)
        ).fetchall()
        for (key,) in rows:
            self._remove(key)

    def add(self, chunks: Iterable[tuple[str, str, Passage]]) -> None:
        """Indexes (key, version, passage) triples, in one transaction: all of them or none."""
        with self._transaction():
            for key, version, passage in chunks:
                self._remove(key)
                row = self._db.execute(
                    "INSERT INTO passages (text, document, chunk) VALUES (?, ?, ?)",
                    (passage.text, passage.document, passage.chunk),
                ).lastrowid
                self._db.execute(
                    "INSERT INTO chunks (key, version, passage, document, number) VALUES (?, ?, ?, ?, ?)",
                    (key, version, row, passage.document, passage.chunk),
                )

    def remove(self, keys: Iterable[str]) -> None:
        with self._transaction():
            for key in keys:
                self._remove(key)

    def _remove(self, key: str) -> None:
        found = self._db.execute("SELECT passage FROM chunks WHERE key = ?", (key,)).fetchone()
        if found is not None:
            self._db.execute("DELETE FROM passages WHERE rowid = ?", found)
            self._db.execute("DELETE FROM chunks WHERE key = ?", (key,))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def search(self, query: str, limit: int = MAX_RESULTS) -> list[Hit]:
        """The passages that match the query best, best first (BM25; a lower FTS5 rank is better)."""
        if not 1 <= limit <= MAX_RESULTS:
            raise ValueError(f"limit must be from 1 to {MAX_RESULTS}, not {limit}")  # SQLite reads -1 as none
        match = _match_query(query)
        if not match:
            return []
        rows = self._db.execute(
            "SELECT document, chunk, bm25(passages), text"
            " FROM passages WHERE passages MATCH ? ORDER BY bm25(passages) LIMIT ?",
            (match, limit),
        ).fetchall()
        return [Hit(document, int(chunk), round(-score, 4), text) for document, chunk, score, text in rows]


def rank(query: str, passages: Iterable[Passage], limit: int = MAX_RESULTS) -> list[Hit]:
    """The given passages that match the query best, best first, from an index of them alone."""
    if not 1 <= limit <= MAX_RESULTS:
        raise ValueError(f"limit must be from 1 to {MAX_RESULTS}, not {limit}")
    index = SearchIndex()
    try:
        index.add((str(number), "", passage) for number, passage in enumerate(passages))
        return index.search(query, limit)
    finally:
        index.close()
