"""The course's closed spoken domain: ~260 question/answer pairs over a ~70-word vocabulary.

A model the size of the course's ``tiny`` preset cannot learn open-domain chat on two CPU cores,
but it can learn a small world completely. This module *is* that world, as text: sums and
differences, the next and previous number, days of the week, colours of things, counting up and
down, with every number spoken as a word. The speech corpus (:mod:`omni_lib.data.synth`) reads
these texts aloud; the text-only stage of the course uses them directly, with no audio at all::

    >>> from omni_lib.data import domain
    >>> items = domain.items()                  # every pair, in a fixed order
    >>> len(items), len(domain.vocabulary())
    (259, 70)
    >>> it = items[6]
    >>> it.id, it.question, it.answer
    ('plus-01-07', 'what is one plus seven', 'one plus seven is eight')
    >>> it.question_spoken                      # what the speech engines are given (intonation)
    'What is one plus seven?'
    >>> train = domain.pairs("train")           # (question, answer) for the text LM stage
    >>> test = domain.pairs("test")             # never used in training, in any form
    >>> len(train), len(test)
    (227, 32)

About 12 % of the items of every topic are held out (``Item.held_out``): they are never used in
training, neither as text nor in any voice, so a test on them measures whether the model learned
the rule (it mostly does not: it memorises) rather than the sentence. Which ones are held out
depends only on ``seed`` and the item ids, through a hash (:func:`rank`), so it is the same on every
machine and Python version, and adding a topic does not reshuffle the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

HELD_OUT_FRACTION = 0.12     # per topic; at least one item of every topic is held out

NUMBERS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
           "fourteen fifteen sixteen seventeen eighteen nineteen twenty").split()
DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
# Things whose colour nobody argues about, each a single word plus its article ("" = none).
COLOURS = (("the", "sky", "blue"), ("the", "grass", "green"), ("", "snow", "white"),
           ("", "coal", "black"), ("a", "banana", "yellow"), ("a", "lemon", "yellow"),
           ("a", "strawberry", "red"), ("a", "tomato", "red"), ("a", "carrot", "orange"),
           ("a", "pumpkin", "orange"), ("", "chocolate", "brown"), ("", "milk", "white"),
           ("a", "cherry", "red"), ("a", "leaf", "green"), ("a", "plum", "purple"),
           ("a", "flamingo", "pink"))


@dataclass(frozen=True)
class Topic:
    """One template family. ``chapter`` is its number in the LibriSpeech-style file names."""
    name: str
    chapter: int
    description: str


TOPICS = (
    Topic("plus", 1, "sums a + b, a and b in 1..9"),
    Topic("minus", 2, "differences a - b, 1 <= b <= a <= 11"),
    Topic("after", 3, "the number after n, n in 0..19"),
    Topic("before", 4, "the number before n, n in 1..20"),
    Topic("day-after", 5, "the day after a weekday"),
    Topic("day-before", 6, "the day before a weekday"),
    Topic("colour", 7, "the colour of a thing"),
    Topic("count-up", 8, "count from a to b, 3 to 5 numbers, within 1..10"),
    Topic("count-down", 9, "count down from b to a, 3 to 5 numbers, within 1..10"),
)
TOPIC = {t.name: t for t in TOPICS}


@dataclass(frozen=True)
class Item:
    """One question and its answer, in lower case without punctuation (the model's targets).

    ``index`` numbers the item within its topic from 0; ``(chapter, index)`` name its audio files.
    ``question_spoken`` / ``answer_spoken`` are the same words with capitals and punctuation,
    which is what the speech engines read: a question mark gives question intonation, and commas
    make counted numbers sound like a list instead of one long word.
    """
    id: str
    topic: str
    index: int
    question: str
    answer: str
    question_spoken: str
    answer_spoken: str
    held_out: bool = False

    @property
    def chapter(self) -> int:
        return TOPIC[self.topic].chapter


def number_word(n: int) -> str:
    """``7`` -> ``'seven'`` for 0..20, the only numbers the domain says.

    >>> number_word(12)
    'twelve'
    """
    if not 0 <= n < len(NUMBERS):
        raise ValueError(f"the domain only speaks numbers 0..{len(NUMBERS) - 1}, got {n}")
    return NUMBERS[n]


def rank(*parts) -> int:
    """A stable pseudo-random number for ``parts`` (SHA-256, not Python's salted ``hash``).

    Sorting by it gives a shuffle that is the same on every machine and Python version; the
    speech generator uses it too, to assign voices.
    """
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def items(seed: int = 0) -> list[Item]:
    """Every item of the domain in topic order, with ``held_out`` chosen by ``seed``."""
    raw = _templated()
    out = []
    for topic in TOPICS:
        mine = [it for it in raw if it.topic == topic.name]
        k = max(1, round(HELD_OUT_FRACTION * len(mine)))
        held = {it.id for it in sorted(mine, key=lambda it: rank(seed, "held-out", it.id))[:k]}
        out += [replace(it, held_out=it.id in held) for it in mine]
    return out


def pairs(split: str = "train", seed: int = 0) -> list[tuple[str, str]]:
    """``(question, answer)`` texts: ``"train"``, ``"test"`` (the held-out items) or ``"all"``."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    return [(it.question, it.answer) for it in items(seed)
            if split == "all" or it.held_out == (split == "test")]


def vocabulary(of: list[Item] | None = None) -> list[str]:
    """The sorted distinct words of the questions and answers (of all items by default)."""
    of = items() if of is None else of
    return sorted({w for it in of for w in (it.question + " " + it.answer).split()})


# ----------------------------------------------------------------------------------- templates
def _templated() -> list[Item]:
    """All items with ``held_out=False``, topic by topic, in a fixed order."""
    out: list[Item] = []

    def add(topic: str, key: str, question: str, answer: str, answer_spoken: str | None = None):
        index = sum(it.topic == topic for it in out)
        out.append(Item(f"{topic}-{key}", topic, index, question, answer,
                        _sentence(question, "?"), answer_spoken or _sentence(answer, ".")))

    w = number_word
    for a in range(1, 10):
        for b in range(1, 10):
            add("plus", f"{a:02d}-{b:02d}", f"what is {w(a)} plus {w(b)}", f"{w(a)} plus {w(b)} is {w(a + b)}")
    for a in range(1, 12):
        for b in range(1, a + 1):
            add("minus", f"{a:02d}-{b:02d}", f"what is {w(a)} minus {w(b)}", f"{w(a)} minus {w(b)} is {w(a - b)}")
    for n in range(0, 20):
        add("after", f"{n:02d}", f"what number comes after {w(n)}", f"{w(n + 1)} comes after {w(n)}")
    for n in range(1, 21):
        add("before", f"{n:02d}", f"what number comes before {w(n)}", f"{w(n - 1)} comes before {w(n)}")
    for i, day in enumerate(DAYS):
        add("day-after", day, f"what day comes after {day}", f"{DAYS[(i + 1) % 7]} comes after {day}")
    for i, day in enumerate(DAYS):
        add("day-before", day, f"what day comes before {day}", f"{DAYS[i - 1]} comes before {day}")
    for article, thing, colour in COLOURS:
        subject = f"{article} {thing}".strip()
        add("colour", thing, f"what colour is {subject}", f"{subject} is {colour}")
    for length in (3, 4, 5):
        for a in range(1, 12 - length):
            b = a + length - 1
            up = [w(n) for n in range(a, b + 1)]
            add("count-up", f"{a:02d}-{b:02d}", f"count from {w(a)} to {w(b)}", " ".join(up),
                _sentence(", ".join(up), "."))
            down = up[::-1]
            add("count-down", f"{b:02d}-{a:02d}", f"count down from {w(b)} to {w(a)}", " ".join(down),
                _sentence(", ".join(down), "."))
    # count-up and count-down were built interleaved; keep each topic's items together
    order = {t.name: i for i, t in enumerate(TOPICS)}
    return sorted(out, key=lambda it: (order[it.topic], it.index))


def _sentence(text: str, stop: str) -> str:
    """Written form for the speech engines: capitalised, days as names, ending in ``stop``."""
    text = " ".join(w.capitalize() if w in DAYS else w for w in text.split(" "))
    return text[:1].upper() + text[1:] + stop

