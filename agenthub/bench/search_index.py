"""`python -m agenthub.bench.search_index`: what a document search costs, cold and warm, and how
large a corpus one cold search reads whole within a timeout. Reports figures; asserts nothing.

The search function's own DocumentStore against S3 in moto (in-process, on this machine), over a
caller's chunks as preprocess writes them (3,200 characters: 800 tokens each): a cold search (no
index kept yet: a new execution environment, or a caller not searched before) reads every chunk
within the budget and indexes it; a warm one lists the prefix and queries the kept index. Beside
them, the design this replaced: an FTS index built in memory from every chunk on every call (the
chunk texts already in memory, so only the indexing is counted). Each figure is the median of
`--repeats` runs, interleaved.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHUNK_CHARACTERS = 3_200
CALLER = "bench-caller"
CHUNKS_PER_DOCUMENT = 160  # 512 KB documents


def _words(count: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(count)]


def _chunk(vocabulary: list[str], rng: random.Random) -> str:
    words: list[str] = []
    size = 0
    while size < CHUNK_CHARACTERS:
        word = rng.choice(vocabulary)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)


def measure(megabytes: float, repeats: int) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from contracts.requests import ALL_CHUNKS
    from search_documents_tool.handler import MAX_CHUNKS_SEARCHED, DocumentStore, IndexFolder
    from search_documents_tool.ranking import Passage, rank

    rng = random.Random(7)  # noqa: S311 - filler text for a benchmark, nothing secret
    vocabulary = _words(20_000, rng)
    chunks = [_chunk(vocabulary, rng) for _ in range(int(megabytes * 1024 * 1024 / CHUNK_CHARACTERS))]
    searched = chunks[:MAX_CHUNKS_SEARCHED]  # what the index rebuilt on every call took
    query = " ".join(rng.sample(vocabulary, 3))
    with mock_aws(), tempfile.TemporaryDirectory() as scratch:
        s3 = boto3.client("s3", region_name="us-east-1")
        for whole, caller in ((False, f"{CALLER}-by-chunk"), (True, CALLER)):
            s3.create_bucket(Bucket=f"lake-{caller}")  # apart: moto lists a whole bucket
            for document in range(0, len(chunks), CHUNKS_PER_DOCUMENT):
                pieces = chunks[document : document + CHUNKS_PER_DOCUMENT]
                for number, text in enumerate(pieces):
                    key = f"work/preprocess/{caller}/doc-{document}/chunk-{number:04d}.txt"
                    s3.put_object(Bucket=f"lake-{caller}", Key=key, Body=text.encode())
                if whole:  # as preprocess writes it
                    key = f"work/preprocess/{caller}/doc-{document}/{ALL_CHUNKS}"
                    body = json.dumps({"chunks": pieces}).encode()
                    metadata = {"chunks": str(len(pieces))}
                    s3.put_object(Bucket=f"lake-{caller}", Key=key, Body=body, Metadata=metadata)
        cold, cold_by_chunk, warm, rebuilt = [], [], [], []
        for run in range(repeats):
            folder = IndexFolder(Path(scratch) / str(run))
            by_chunk = DocumentStore(f"lake-{CALLER}-by-chunk", s3, folder)
            store = DocumentStore(f"lake-{CALLER}", s3, folder)
            started = time.perf_counter()
            by_chunk.search(f"{CALLER}-by-chunk", query, 5, lambda: 3600.0)
            cold_by_chunk.append(time.perf_counter() - started)
            started = time.perf_counter()
            found = store.search(CALLER, query, 5, lambda: 3600.0)
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            store.search(CALLER, query, 5, lambda: 3600.0)
            warm.append(time.perf_counter() - started)
            passages = [Passage("doc", number, text) for number, text in enumerate(searched)]
            started = time.perf_counter()
            rank(query, passages, 5)
            rebuilt.append(time.perf_counter() - started)
    searched_chunks = len(chunks) - found.beyond_budget  # whole documents, the newest first
    searched_bytes = searched_chunks * CHUNK_CHARACTERS
    cold_seconds = statistics.median(cold)
    return {
        "corpus_bytes": sum(len(text) for text in chunks),
        "chunks": len(chunks),
        "chunks_searched": searched_chunks,
        "searched_bytes": searched_bytes,
        "beyond_budget": found.beyond_budget,
        "cold_search_seconds": round(cold_seconds, 3),
        "cold_search_reading_each_chunk_seconds": round(statistics.median(cold_by_chunk), 3),
        "warm_search_seconds": round(statistics.median(warm), 4),
        "rebuilt_every_call_seconds": round(statistics.median(rebuilt), 3),
        "cold_bytes_per_second": round(searched_bytes / cold_seconds),
        "cold_chunks_per_second": round(searched_chunks / cold_seconds, 1),
    }


def read_whole_within(timeout_seconds: float, figures: dict[str, Any]) -> dict[str, float]:
    """The largest corpus one cold search reads and indexes whole within a function timeout, at
    the measured rate, keeping the margin the tool layer keeps for its answer."""
    from shared.tool import ANSWER_MARGIN_SECONDS

    seconds = max(0.0, timeout_seconds - ANSWER_MARGIN_SECONDS)
    return {
        "chunks": round(seconds * figures["cold_chunks_per_second"]),
        "mebibytes": round(seconds * figures["cold_bytes_per_second"] / (1024 * 1024), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=2.0, help="the caller's corpus (2 MiB by default)")
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args(argv)
    figures = measure(arguments.megabytes, arguments.repeats)
    figures["read_whole_within"] = {f"{timeout}s": read_whole_within(timeout, figures) for timeout in (5, 30)}
    json.dump(figures, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
