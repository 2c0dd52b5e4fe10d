"""Preprocess task: clean up a document, measure it, and cut it into model-sized chunks in the lake.

Input: the hub event that started the pipeline (`{"event": ...}`). Output: S3 pointers to the
chunks and the document's statistics, never the text itself, so the state stays small however
large the document is.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from contracts.requests import (
    ALL_CHUNKS,
    CHARACTERS_PER_TOKEN,
    Pipeline,
    estimate_tokens,
    preprocess_input_of,
)
from shared import aws
from shared.config import LakeSettings, load_settings
from shared.hub import HubEvent, HubEventTask, load_payload
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3 import S3Client

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class PreprocessSettings(LakeSettings):
    MAX_CHUNKS: int = Field(default=500, gt=0)


class EmptyDocument(ValueError):
    """Nothing is left of the document after clean-up."""


class DocumentTooLarge(ValueError):
    """The document needs more chunks than a request may have."""


def clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _split_long(piece: str, limit: int) -> list[str]:
    """A paragraph longer than a chunk, cut at sentence ends, then at spaces, then anywhere."""
    parts: list[str] = []
    for sentence in _SENTENCE_END.split(piece):
        rest = sentence
        while len(rest) > limit:
            cut = rest.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            parts.append(rest[:cut].strip())
            rest = rest[cut:].strip()
        if rest:
            parts.append(rest)
    return parts


def chunk(text: str, chunk_tokens: int) -> list[str]:
    """Consecutive pieces of at most `chunk_tokens` (estimated), broken at paragraphs where possible."""
    limit = chunk_tokens * CHARACTERS_PER_TOKEN
    pieces: list[str] = []
    for paragraph in text.split("\n\n"):
        pieces.extend([paragraph] if len(paragraph) <= limit else _split_long(paragraph, limit))
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}\n\n{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        current = piece
    if current:
        chunks.append(current)
    return chunks


@dataclass(frozen=True)
class Document:
    """A request's document, cleaned up and cut into chunks: everything but where they are stored."""

    pieces: list[str]
    stats: dict[str, int]
    request_input: dict[str, Any] | None  # the rest of a chained request, for its next stage


def preprocess(pipeline: str, request_input: dict[str, Any], max_chunks: int) -> Document:
    """Cleans, measures and chunks the document of a request's input. Pure: no I/O."""
    document = preprocess_input_of(pipeline, request_input)
    text = clean(document.text)
    if not text:
        raise EmptyDocument("the document is empty once control characters and whitespace are removed")
    pieces = chunk(text, document.chunk_tokens)
    if len(pieces) > max_chunks:
        raise DocumentTooLarge(
            f"the document makes {len(pieces)} chunks of {document.chunk_tokens} tokens; "
            f"the limit is {max_chunks}"
        )
    stats = {
        "characters_in": len(document.text),
        "characters": len(text),
        "words": len(text.split()),
        "estimated_tokens": estimate_tokens(text),
        "chunks": len(pieces),
        "chunk_tokens": document.chunk_tokens,
    }
    # The next stage of a chained request needs the rest of it, not the document it has as chunks.
    rest = (
        None
        if pipeline == Pipeline.PREPROCESS
        else {k: v for k, v in request_input.items() if k != "preprocess"}
    )
    return Document(pieces, stats, rest)


class ChunkStore:
    """Where preprocess reads its request and writes its chunks: the data lake."""

    def __init__(self, bucket: str, s3: S3Client) -> None:
        self._bucket = bucket
        self._s3 = s3

    def request_input(self, event: HubEvent) -> dict[str, Any]:
        return dict(load_payload(event, self._s3)["input"])

    def put(self, subject: str, request_id: str, index: int, text: str) -> str:
        """Writes one chunk (at a key derived from the request, so a retry rewrites it), under the
        caller's own prefix (the search tool reads a caller's documents there); its reference."""
        key = f"work/preprocess/{subject}/{request_id}/chunk-{index:04d}.txt"
        self._s3.put_object(
            Bucket=self._bucket, Key=key, Body=text.encode(), ContentType="text/plain; charset=utf-8"
        )
        return f"s3://{self._bucket}/{key}"

    def put_all(self, subject: str, request_id: str, pieces: list[str]) -> None:
        """Writes every chunk again in one object beside them, after them: a reader that wants a
        whole document (the search tool) reads one object instead of one per chunk."""
        key = f"work/preprocess/{subject}/{request_id}/{ALL_CHUNKS}"
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=json.dumps({"chunks": pieces}, ensure_ascii=False).encode(),
            ContentType="application/json",
            Metadata={"chunks": str(len(pieces))},  # how many, without reading it
        )


def run(event: HubEvent, store: ChunkStore, max_chunks: int) -> dict[str, Any]:
    document = preprocess(event.pipeline, store.request_input(event), max_chunks)
    chunks = [
        {
            "index": index,
            "ref": store.put(event.subject, event.request_id, index, piece),
            "characters": len(piece),
            "tokens": estimate_tokens(piece),
        }
        for index, piece in enumerate(document.pieces)
    ]
    store.put_all(event.subject, event.request_id, document.pieces)
    result: dict[str, Any] = {"chunks": chunks, "stats": document.stats}
    if document.request_input is not None:
        result["request_input"] = document.request_input
    logger.info("preprocessed", extra={"request_id": event.request_id, "chunks": len(chunks)})
    metrics.add_metric(name="ChunksWritten", unit=MetricUnit.Count, value=len(chunks))
    return result


@cache
def chunk_store() -> ChunkStore:
    return ChunkStore(load_settings(PreprocessSettings).DATA_LAKE_BUCKET, aws.s3())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(
        HubEventTask.model_validate(event).event, chunk_store(), load_settings(PreprocessSettings).MAX_CHUNKS
    )
