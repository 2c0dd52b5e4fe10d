"""Ranked search over a caller's documents: the search tool's logic, with SQLite's FTS5 doing the ranking.

FTS5 (SQLite's full-text search, in Python's standard library) tokenizes, stems with the Porter
stemmer and ranks with BM25: a well-kept, dependency-free ranking engine, where a hand-written
scorer would be neither. The index is built in memory per call from the caller's chunks only, so
nothing of another caller's can ever be among the results.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

MAX_RESULTS = 10


class SearchUnavailable(RuntimeError):
    """This Python's SQLite lacks FTS5; the search tool cannot rank without it."""


@dataclass(frozen=True)
class Passage:
    document: str  # the request that preprocessed it
    chunk: int
    text: str


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


def rank(query: str, passages: Iterable[Passage], limit: int = MAX_RESULTS) -> list[Hit]:
    """The passages that match the query best, best first (BM25; a lower FTS5 rank is better)."""
    if not 1 <= limit <= MAX_RESULTS:
        raise ValueError(f"limit must be from 1 to {MAX_RESULTS}, not {limit}")  # SQLite reads -1 as none
    match = _match_query(query)
    if not match:
        return []
    connection = sqlite3.connect(":memory:")
    try:
        try:
            connection.execute(
                "CREATE VIRTUAL TABLE passages USING fts5(text, document UNINDEXED, chunk UNINDEXED,"
                " tokenize='porter unicode61')"
            )
        except sqlite3.OperationalError as error:
            raise SearchUnavailable(f"SQLite {sqlite3.sqlite_version} has no FTS5: {error}") from error
        connection.executemany(
            "INSERT INTO passages (text, document, chunk) VALUES (?, ?, ?)",
            ((passage.text, passage.document, passage.chunk) for passage in passages),
        )
        rows = connection.execute(
            "SELECT document, chunk, bm25(passages), text"
            " FROM passages WHERE passages MATCH ? ORDER BY bm25(passages) LIMIT ?",
            (match, limit),
        ).fetchall()
    finally:
        connection.close()
    return [Hit(document, int(chunk), round(-score, 4), text) for document, chunk, score, text in rows]
