"""omni_lib.data.domain: the closed domain is the promised size, correct, and split reproducibly."""

import re
from collections import Counter

import pytest

from omni_lib.data import domain

WORD = {w: n for n, w in enumerate(domain.NUMBERS)}


def test_size_vocabulary_and_held_out_share():
    items = domain.items()
    assert 250 <= len(items) <= 300
    assert 60 <= len(domain.vocabulary()) <= 80
    held = [it for it in items if it.held_out]
    assert 0.10 <= len(held) / len(items) <= 0.15
    for topic in domain.TOPICS:        # every topic is both trained and tested
        mine = [it for it in items if it.topic == topic.name]
        assert any(it.held_out for it in mine) and not all(it.held_out for it in mine), topic.name


def test_ids_questions_and_file_numbers_are_unique():
    items = domain.items()
    for key in (lambda it: it.id, lambda it: it.question, lambda it: (it.chapter, it.index)):
        assert len({key(it) for it in items}) == len(items)
    per_topic = Counter(it.topic for it in items)
    for it in items:                    # indexes run 0..n-1 within a topic
        assert 0 <= it.index < per_topic[it.topic]


def test_every_answer_is_right():
    for it in domain.items():
        q, a = it.question.split(), it.answer.split()
        if it.topic in ("plus", "minus"):
            x, y = WORD[q[2]], WORD[q[4]]
            assert WORD[a[-1]] == (x + y if it.topic == "plus" else x - y), it
            assert a[:3] == q[2:5]
        elif it.topic in ("after", "before"):
            n = WORD[q[-1]]
            assert WORD[a[0]] == (n + 1 if it.topic == "after" else n - 1), it
        elif it.topic in ("day-after", "day-before"):
            i = domain.DAYS.index(q[-1])
            assert a[0] == domain.DAYS[(i + (1 if it.topic == "day-after" else -1)) % 7], it
        elif it.topic == "colour":
            thing = q[-1]
            assert (thing, a[-1]) in {(t, c) for _, t, c in domain.COLOURS}, it
        else:
            lo, hi = sorted((WORD[q[-3]], WORD[q[-1]]))
            nums = [WORD[w] for w in a]
            assert nums == (list(range(lo, hi + 1)) if it.topic == "count-up" else list(range(hi, lo - 1, -1)))
            assert 3 <= len(nums) <= 5


def test_spoken_forms_say_the_same_words():
    for it in domain.items():
        assert it.question_spoken.endswith("?") and it.answer_spoken.endswith(".")
        for text, spoken in ((it.question, it.question_spoken), (it.answer, it.answer_spoken)):
            assert re.sub(r"[^a-z ]", "", spoken.lower()) == text


def test_split_is_deterministic_and_depends_on_the_seed():
    assert domain.items(0) == domain.items(0)
    held = {s: {it.id for it in domain.items(s) if it.held_out} for s in (0, 1)}
    assert held[0] != held[1] and len(held[0]) == len(held[1])


def test_pairs():
    train, test, everything = domain.pairs("train"), domain.pairs("test"), domain.pairs("all")
    assert not set(train) & set(test)
    assert sorted(train + test) == sorted(everything)
    assert len(everything) == len(domain.items())
    with pytest.raises(ValueError, match="split must be"):
        domain.pairs("dev")


def test_number_word_range():
    assert domain.number_word(0) == "zero" and domain.number_word(20) == "twenty"
    with pytest.raises(ValueError, match="0..20"):
        domain.number_word(21)
