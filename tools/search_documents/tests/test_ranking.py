"""The search tool's ranking: FTS5 BM25 over the given passages only, the query never read as FTS syntax."""

from __future__ import annotations

import pytest

from search_documents_tool.ranking import MAX_RESULTS, Hit, Passage, rank

MANUAL = [
    Passage("manual", 0, "The battery lasts twelve hours on a single charge."),
    Passage("manual", 1, "Charging takes two hours with the supplied cable."),
    Passage("manual", 2, "The screen is bright and sharp in daylight."),
    Passage("manual", 3, "Runners running in the rain should dry the case afterwards."),
    Passage("review", 0, "Battery, battery, battery: the battery is the best part of this phone."),
    Passage("review", 1, "The speaker is loud but the microphone is quiet."),
    Passage("review", 2, "Shipping was fast and the box arrived undamaged."),
    Passage("review", 3, "The price is fair for what you get."),
]


def places(hits: list[Hit]) -> list[tuple[str, int]]:
    return [(hit.document, hit.chunk) for hit in hits]


def test_the_passage_that_matches_best_comes_first() -> None:
    hits = rank("battery", MANUAL)

    assert places(hits) == [("review", 0), ("manual", 0)]
    assert hits[0].score > hits[1].score > 0
    assert hits[0].text == MANUAL[4].text


def test_a_passage_matching_more_of_the_query_words_ranks_above_one_matching_fewer() -> None:
    hits = rank("how bright is the screen in daylight", MANUAL)

    assert places(hits)[0] == ("manual", 2)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_any_word_of_the_query_is_enough_to_match() -> None:
    assert set(places(rank("speaker price", MANUAL))) == {("review", 1), ("review", 3)}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("batteries", ("review", 0)),
        ("charge", ("manual", 0)),
        ("charged", ("manual", 0)),
        ("run", ("manual", 3)),
        ("shipped", ("review", 2)),
    ],
)
def test_words_match_across_their_forms_by_stemming(query: str, expected: tuple[str, int]) -> None:
    assert expected in places(rank(query, MANUAL))


def test_the_query_matches_whatever_its_case() -> None:
    assert places(rank("BATTERY", MANUAL)) == places(rank("battery", MANUAL))


@pytest.mark.parametrize("query", ["", "   ", "?!", "-- ; ' \" * ( ) :"])
def test_a_query_without_words_finds_nothing(query: str) -> None:
    assert rank(query, MANUAL) == []


def test_a_word_in_no_passage_finds_nothing() -> None:
    assert rank("xylophone", MANUAL) == []


SCREEN = [("manual", 2)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"screen', SCREEN),  # an unbalanced quote
        ("screen)", SCREEN),
        ("NEAR(screen bright)", SCREEN),
        ("text:screen", SCREEN),
        ("-screen", SCREEN),
        ("^screen", SCREEN),
        ("scr*", []),
        ("document:manual", []),
        ("screen AND NOT bright", [("manual", 2), ("review", 2)]),  # "and" is a word of review 2
        ('" OR 1=1 --', []),
        ("'; DROP TABLE passages; --", []),
    ],
)
def test_fts_syntax_in_the_query_is_read_as_plain_words_never_as_an_fts_query(
    query: str, expected: list[tuple[str, int]]
) -> None:
    assert places(rank(query, MANUAL)) == expected


def test_a_prefix_star_does_not_widen_the_search() -> None:
    assert rank("scr*", MANUAL) == []


def test_a_column_filter_cannot_search_the_unindexed_columns() -> None:
    assert rank("document:review", MANUAL) == []
    assert rank("manual", MANUAL) == []


def test_not_in_the_query_is_a_word_and_never_excludes_a_passage() -> None:
    assert ("manual", 2) in places(rank("screen NOT bright", MANUAL))


def test_the_limit_caps_the_hits_and_keeps_the_best() -> None:
    apples = [Passage("fruit", n, "apple " * (n + 1) + "and pear") for n in range(6)]
    others = [Passage("other", n, f"nothing of interest here, line {n}") for n in range(10)]

    everything = rank("apple", apples + others, limit=MAX_RESULTS)

    assert places(everything) == [("fruit", n) for n in reversed(range(6))]
    assert rank("apple", apples + others, limit=3) == everything[:3]
    assert rank("apple", apples + others, limit=1) == everything[:1]


@pytest.mark.parametrize("limit", [0, -1, MAX_RESULTS + 1])
def test_a_limit_outside_one_to_the_most_results_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="limit must be from 1 to"):
        rank("apple", [Passage("fruit", 0, "apple")], limit=limit)


def test_the_default_limit_is_the_most_results_a_search_gives() -> None:
    many = [Passage("big", n, f"common word number {n}") for n in range(MAX_RESULTS + 5)]

    assert len(rank("common", many)) == MAX_RESULTS


def test_only_the_given_passages_are_searched() -> None:
    mine = MANUAL[:4]

    hits = rank("battery speaker shipping price", mine)

    assert places(hits) == [("manual", 0)]
    assert rank("battery", []) == []


def test_each_call_builds_its_own_index() -> None:
    rank("battery", [Passage("other caller", 0, "battery secrets")])

    assert all(hit.document != "other caller" for hit in rank("battery", MANUAL))


def test_a_generator_of_passages_is_searched_like_a_list() -> None:
    assert rank("battery", iter(MANUAL)) == rank("battery", MANUAL)


def test_a_hit_carries_its_document_chunk_and_full_text() -> None:
    (hit,) = rank("undamaged", MANUAL)

    assert hit == Hit("review", 2, hit.score, "Shipping was fast and the box arrived undamaged.")
    assert isinstance(hit.chunk, int)
    assert hit.score > 0
    assert round(hit.score, 4) == hit.score


def test_accented_and_non_latin_words_are_searched_too() -> None:
    passages = [Passage("fr", 0, "Le café est chaud."), Passage("ja", 0, "東京 は 大きい")]

    assert places(rank("cafe", passages)) == [("fr", 0)]
    assert places(rank("東京", passages)) == [("ja", 0)]
