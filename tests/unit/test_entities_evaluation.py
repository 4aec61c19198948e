"""The entity evaluation script on a hand-written CoNLL file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from newswire.evaluation.entities import Document, Span, evaluate, main, read_conll
from tests.conftest import PROJECT

MINI = PROJECT / "tests" / "data" / "entities" / "mini.conll"


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    return read_conll(MINI)


def spans_by_text(document: Document) -> dict[str, Span]:
    return {document.text[s:e]: (s, e, t) for s, e, t in document.gold}


def test_reads_documents_sentences_and_iob1_spans(documents: list[Document]) -> None:
    assert len(documents) == 2
    first, second = documents
    assert first.text == "Peter Blackburn visited Paris .\nThe European Commission said ."
    assert first.tokens == 10 and second.tokens == 8
    assert {(first.text[s:e], t) for s, e, t in first.gold} == {
        ("Peter Blackburn", "PER"),
        ("Paris", "LOC"),
        ("European Commission", "ORG"),
    }
    # B-PER starts a second person right after the first; MISC is not scored.
    assert sorted((second.text[s:e], t) for s, e, t in second.gold) == [
        ("Bonn", "LOC"),
        ("Kohl", "PER"),
        ("Schroeder", "PER"),
    ]
    assert read_conll(MINI, limit_docs=1) == [first]


def test_a_perfect_system_scores_one(documents: list[Document]) -> None:
    gold = {d.text: d.gold for d in documents}

    def perfect(texts: Sequence[str]) -> list[list[Span]]:
        return [gold[t] for t in texts]

    (result,) = evaluate(documents, {"perfect": perfect})
    overall = result.scores.metrics()
    assert (overall["precision"], overall["recall"], overall["f1"]) == (1.0, 1.0, 1.0)
    assert result.tokens == 18


def test_known_mistakes_give_the_hand_computed_scores(documents: list[Document]) -> None:
    first, second = documents
    one, two = spans_by_text(first), spans_by_text(second)
    commission = one["European Commission"]
    kohl, schroeder = two["Kohl"], two["Schroeder"]
    answers = {
        # the organisation typed as a place: one LOC false positive, one ORG false negative
        first.text: [one["Peter Blackburn"], one["Paris"], (commission[0], commission[1], "LOC")],
        # the two adjacent people as one span: one PER false positive, two PER false negatives
        second.text: [(kohl[0], schroeder[1], "PER"), two["Bonn"]],
    }

    def mistaken(texts: Sequence[str]) -> list[list[Span]]:
        return [answers[t] for t in texts]

    (result,) = evaluate(documents, {"mistaken": mistaken})
    overall = result.scores.metrics()
    assert overall["precision"] == pytest.approx(3 / 5)
    assert overall["recall"] == pytest.approx(3 / 6)
    assert overall["f1"] == pytest.approx(2 * 0.6 * 0.5 / 1.1)
    per = result.scores.metrics("PER")
    assert (per["precision"], per["recall"]) == pytest.approx((1 / 2, 1 / 3))
    loc = result.scores.metrics("LOC")
    assert (loc["precision"], loc["recall"]) == pytest.approx((2 / 3, 1.0))
    org = result.scores.metrics("ORG")
    assert (org["tp"], org["fp"], org["fn"], org["f1"]) == (0, 0, 1, 0.0)


def test_main_scores_both_systems_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scores.json"
    assert main([str(MINI), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "newswire" in printed and "spacy" in printed and "tokens/s" in printed
    results = json.loads(out.read_text())
    assert [r["system"] for r in results] == ["newswire", "spacy"]
    for result in results:
        assert result["tokens"] == 18
        assert 0.0 <= result["overall"]["f1"] <= 1.0
        assert set(result["per_type"]) == {"PER", "ORG", "LOC"}
