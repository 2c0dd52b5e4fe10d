"""The search tool's Lambda handler: the caller's own preprocessed documents, ranked for a query.

Preprocess writes each document's chunks under `work/preprocess/<caller sub>/<request id>/` in the
data lake; this reads only the calling user's prefix (the caller is the hub envelope's `subject`,
set by the front door from the caller's token, never by the model), so one caller's search never
sees another's text. What it reads is bounded: the newest documents first, up to a chunk budget.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from search_documents_tool.ranking import Passage, rank
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


class DocumentStore:
    def __init__(self, bucket: str, s3: S3Client) -> None:
        self._bucket = bucket
        self._s3 = s3

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
        passages, read = [], 0
        for item in objects[:MAX_CHUNKS_SEARCHED]:
            if read + int(item["Size"]) > MAX_BYTES_SEARCHED:
                break
            read += int(item["Size"])
            document, _, name = item["Key"][len(prefix) :].partition("/")
            text = self._s3.get_object(Bucket=self._bucket, Key=item["Key"])["Body"].read().decode()
            passages.append(
                Passage(document=document, chunk=int(name.split("-")[-1].split(".")[0]), text=text)
            )
        return passages


@cache
def store() -> DocumentStore:
    return DocumentStore(load_settings(LakeSettings).DATA_LAKE_BUCKET, aws.s3())


def search(arguments: dict[str, Any], caller: str) -> str:
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ToolError('give what to look for as a string: {"query": "battery life"}')
    limit = arguments.get("max_results", 5)
    if not isinstance(limit, int) or not 1 <= limit <= 10:
        raise ToolError("max_results must be a whole number from 1 to 10")
    hits = rank(query[:MAX_QUERY_CHARACTERS], store().passages(caller), limit)
    if not hits:
        return f"No passage of your documents matches {query!r}. Preprocess a document first to search it."
    lines = [f"{len(hits)} passage(s) of your documents match {query!r}, best first:"]
    for n, hit in enumerate(hits, 1):
        passage = " ".join(hit.text.split())
        if len(passage) > PASSAGE_CHARACTERS:
            passage = passage[:PASSAGE_CHARACTERS] + " ..."
        lines.append(f"[{n}] document {hit.document}, part {hit.chunk + 1}: {passage}")
    return "\n".join(lines)


lambda_handler = serve_tool(search)
