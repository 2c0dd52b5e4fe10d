"""Preprocess task: clean up a document, measure it, and cut it into model-sized chunks in the lake.

Input: the hub event that started the pipeline (`{"event": ...}`). Output: S3 pointers to the
chunks and the document's statistics, never the text itself, so the state stays small however
large the document is.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from shared import aws
from shared.config import Settings, load_settings
from shared.contracts import CHARACTERS_PER_TOKEN, estimate_tokens, preprocess_input_of
from shared.hub import HubEvent, load_payload
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3 import S3Client

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class PreprocessSettings(Settings):
    DATA_LAKE_BUCKET: str
    MAX_CHUNKS: int = Field(default=500, gt=0)


class EmptyDocument(ValueError):
    """Nothing is left of the document after clean-up."""


class DocumentTooLarge(ValueError):
    """The document needs more chunks than a request may have."""


class PreprocessTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event: HubEvent


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


class Preprocessor:
    def __init__(self, bucket: str, s3: S3Client, max_chunks: int) -> None:
        self._bucket = bucket
        self._s3 = s3
        self._max_chunks = max_chunks

    def run(self, event: HubEvent) -> dict[str, Any]:
        payload = load_payload(event, self._s3)
        request_input = payload["input"]
        document = preprocess_input_of(event.pipeline, request_input)
        text = clean(document.text)
        if not text:
            raise EmptyDocument("the document is empty once control characters and whitespace are removed")
        pieces = chunk(text, document.chunk_tokens)
        if len(pieces) > self._max_chunks:
            raise DocumentTooLarge(
                f"the document makes {len(pieces)} chunks of {document.chunk_tokens} tokens; "
                f"the limit is {self._max_chunks}"
            )
        chunks = []
        for index, piece in enumerate(pieces):
            key = f"work/preprocess/{event.request_id}/chunk-{index:04d}.txt"
            self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=piece.encode(), ContentType="text/plain; charset=utf-8"
            )
            chunks.append(
                {
                    "index": index,
                    "ref": f"s3://{self._bucket}/{key}",
                    "characters": len(piece),
                    "tokens": estimate_tokens(piece),
                }
            )
        result: dict[str, Any] = {
            "chunks": chunks,
            "stats": {
                "characters_in": len(document.text),
                "characters": len(text),
                "words": len(text.split()),
                "estimated_tokens": estimate_tokens(text),
                "chunks": len(chunks),
                "chunk_tokens": document.chunk_tokens,
            },
        }
        if event.pipeline != "preprocess":
            # The next stage needs the rest of the request, not the document it already has as chunks.
            result["request_input"] = {
                key: value for key, value in request_input.items() if key != "preprocess"
            }
        logger.info("preprocessed", extra={"request_id": event.request_id, "chunks": len(chunks)})
        metrics.add_metric(name="ChunksWritten", unit=MetricUnit.Count, value=len(chunks))
        return result


@cache
def preprocessor() -> Preprocessor:
    settings = load_settings(PreprocessSettings)
    return Preprocessor(settings.DATA_LAKE_BUCKET, aws.s3(), settings.MAX_CHUNKS)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return preprocessor().run(PreprocessTask.model_validate(event).event)
