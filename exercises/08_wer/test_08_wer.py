"""Grader of exercise 08: ``mine`` against ``omni_lib.wer.word_errors`` and jiwer on seeded random
word sequences (small vocabularies, so that words repeat and many alignments tie), plus a worked
example with literal counts. Where optimal alignments tie, any optimal ``(S, D, I)`` is accepted:
the grader lists them."""

import random
from functools import lru_cache

import jiwer
import pytest

from omni_lib.wer import word_errors


def optimal_counts(ref: list[str], hyp: list[str]) -> set[tuple[int, int, int]]:
    """Every ``(S, D, I)`` of a minimal alignment of ``ref`` to ``hyp`` (the grader's own, brute DP)."""
    @lru_cache(maxsize=None)
    def best(i: int, j: int) -> tuple[int, frozenset]:       # (distance, counts) of ref[:i] -> hyp[:j]
        if i == 0 or j == 0:
            return i + j, frozenset({(0, i, j)})
        options = []
        for di, dj, step in ((1, 1, (int(ref[i - 1] != hyp[j - 1]), 0, 0)), (1, 0, (0, 1, 0)), (0, 1, (0, 0, 1))):
            dist, counts = best(i - di, j - dj)
            options.append((dist + sum(step), {tuple(a + b for a, b in zip(c, step)) for c in counts}))
        low = min(d for d, _ in options)
        return low, frozenset().union(*(c for d, c in options if d == low))
    return set(best(len(ref), len(hyp))[1])


def random_pair(rng: random.Random) -> tuple[str, str]:
    vocab = ["the", "cat", "sat", "on", "mat", "a"][: rng.randint(2, 6)]
    ref = " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 9)))
    hyp = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 9)))
    return ref, hyp


def test_worked_example(mine):
    assert optimal_counts("the cat sat on the mat".split(), "cat sit on the mat today".split()) == {(1, 1, 1)}
    assert mine.word_errors("the cat sat on the mat", "cat sit on the mat today") == (1, 1, 1)   # the only optimum
    assert mine.word_errors("seven plus five", "") == (0, 3, 0)
    assert mine.word_errors("twelve", "twelve  twelve ") == (0, 0, 1)                 # extra spaces are not words
    refs, hyps = ["the cat sat on the mat", "seven plus five"], ["cat sit on the mat today", "seven plus five"]
    assert mine.wer(refs, hyps) == 3 / 9                                                    # 3 errors, 9 words


@pytest.mark.parametrize("seed", range(4))
def test_word_errors_against_library(mine, seed):
    rng = random.Random(seed)
    for _ in range(40):
        ref, hyp = random_pair(rng)
        lib = word_errors([ref], [hyp])
        want = (lib["substitutions"], lib["deletions"], lib["insertions"])
        if hyp:                                                   # (older jiwer refuses an empty hypothesis)
            out = jiwer.process_words(ref, hyp)
            assert want == (out.substitutions, out.deletions, out.insertions)
        allowed = optimal_counts(ref.split(), hyp.split())
        assert want in allowed                                    # the grader checks itself
        got = tuple(mine.word_errors(ref, hyp))
        assert sum(got) == sum(want), f"{ref!r} -> {hyp!r}: {got}, {sum(want)} errors expected"
        assert got in allowed, f"{ref!r} -> {hyp!r}: {got} is not the count of a minimal alignment {sorted(allowed)}"


@pytest.mark.parametrize("seed", range(2))
def test_corpus_wer_equals_library(mine, seed):
    rng = random.Random(100 + seed)
    pairs = [random_pair(rng) for _ in range(30)]
    refs, hyps = [r for r, _ in pairs], [h for _, h in pairs]
    assert mine.wer(refs, hyps) == pytest.approx(word_errors(refs, hyps)["wer"], abs=1e-12)
    kept = [(r, h) for r, h in pairs if h]                        # and jiwer's own corpus WER
    refs, hyps = [r for r, _ in kept], [h for _, h in kept]
    assert mine.wer(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps), abs=1e-12)
