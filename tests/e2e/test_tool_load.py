"""One caller's searches do not fail another's (docs/reliability.md #45).

A caller with 2 MiB of preprocessed documents searches six times at once while another, with one
small note, searches twice, all of them cold (neither caller searched before). When up to ten
calls shared one invocation and its timeout, and each rebuilt its index over every chunk of its
caller's documents, most of both callers' searches timed out ("did not answer within 12
seconds") and were retried from nothing. Now each call is an invocation of its own, and each
caller's chunks are read and indexed once, then kept.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from agenthub.client import HubClient
from tests.e2e.conftest import Hub

SEARCH_STACK = "agent-hub-search-documents"
DOCUMENT_NAMED = re.compile(r"^\[\d+\] document ([0-9a-f-]{36})", re.MULTILINE)
DOCUMENT_BYTES = 512 * 1024  # four of them: 2 MiB, under the API's 1 MiB request limit each


def preprocessed(client: HubClient, text: str) -> str:
    accepted = client.submit({"pipeline": "preprocess", "input": {"text": text}})
    assert accepted.status == 202, accepted.body
    view = client.wait(accepted.body["request_id"], timeout=120)
    assert view["status"] == "SUCCEEDED", view.get("error")
    return str(accepted.body["request_id"])


def big_document(number: int, words: list[str]) -> str:
    """About DOCUMENT_BYTES of paragraphs, each naming one of `words` among filler."""
    paragraphs, size, line = [], 0, 0
    while size < DOCUMENT_BYTES:
        word = words[line % len(words)]
        paragraph = (
            f"Record {number}-{line}: the {word} survey logged site {line} on a calm day. "
            + "Nothing else of note was seen along the shore that morning. " * 4
        )
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
        line += 1
    return "\n\n".join(paragraphs)


def search_agent(client: HubClient, query: str) -> str:
    accepted = client.submit(
        {
            "pipeline": "agent",
            "input": {"prompt": f"Search my notes for '{query}'.", "tools": ["search_documents"]},
        }
    )
    assert accepted.status == 202, accepted.body
    return str(accepted.body["request_id"])


@pytest.mark.timeout(600)
def test_a_callers_big_corpus_does_not_fail_another_callers_searches_made_at_the_same_time(hub: Hub) -> None:
    tag = uuid.uuid4().hex[:6]
    big, small = hub.client(f"search-big-{tag}"), hub.client(f"search-small-{tag}")
    words = [f"heron{tag}", f"otter{tag}", f"plover{tag}", f"seal{tag}", f"tern{tag}", f"vole{tag}"]
    big_documents = {preprocessed(big, big_document(number, words)) for number in range(4)}
    small_document = preprocessed(small, f"A short note: the pump{tag} moves 40 litres a minute.")
    dead_letters_before = dead_lettered(hub)

    asks = [(big, word) for word in words] + [(small, f"pump{tag}"), (small, f"litres pump{tag}")]
    with ThreadPoolExecutor(max_workers=len(asks)) as submit:  # all eight at once
        requests = list(submit.map(lambda ask: (ask[0], search_agent(*ask), ask[1]), asks))
    views = [(client, query, client.wait(request_id, timeout=240)) for client, request_id, query in requests]

    for client, query, view in views:
        assert view["status"] == "SUCCEEDED", view.get("error")
        (call,) = view["result"]["transcript"]
        assert call["outcome"] == "success", call["answer"]
        assert "did not answer" not in call["answer"]
        if client is small:
            assert small_document in call["answer"]
            assert "40 litres a minute" in call["answer"]
        else:  # the transcript keeps the start and the end of a long answer
            assert call["answer"].startswith(f"5 passage(s) of your documents match {query!r}, best first:")
            assert set(DOCUMENT_NAMED.findall(call["answer"])) <= big_documents  # its own documents only
            assert DOCUMENT_NAMED.findall(call["answer"])
        assert f"pump{tag}" not in call["answer"] or client is small
    assert dead_lettered(hub) == dead_letters_before  # no search was given up on


def dead_lettered(hub: Hub) -> int:
    sqs = hub.aws("sqs")
    subscriber = hub.cloud.stacks[SEARCH_STACK]
    url = subscriber.ref("SearchDocumentsSubscriber.DeadLetterQueue")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])
