# Your file: replace each `raise NotImplementedError` with your code (spec: README.md).
"""Exercise 08 · Word error rate by dynamic programming (spec §9).

WER = (S + D + I) / N: the fewest word substitutions S, deletions D (reference words missing from
the hypothesis) and insertions I (extra hypothesis words) that turn the reference's N words into
the hypothesis. Fill the table ``d[i][j]`` = edit distance between the first i reference words and
the first j hypothesis words::

    d[i][0] = i      d[0][j] = j
    d[i][j] = min(d[i-1][j-1] + (ref[i-1] != hyp[j-1]),    # match or substitution
                  d[i-1][j] + 1,                           # deletion
                  d[i][j-1] + 1)                           # insertion

then walk back from ``d[N][M]`` along any optimal path, counting the kinds of step. Several
optimal paths may exist (``"a b" -> "b c"``: 2 substitutions, or 1 deletion + 1 insertion); any
is accepted, jiwer picks one of them too. Words are the whitespace-separated tokens
(``str.split()``); normalise the text before if you want case or punctuation ignored.

Corpus WER (what papers report) sums errors and reference words over all utterances; it is not
the mean of the utterances' WERs. Reference: ``omni_lib.wer.word_errors`` (which counts with
``jiwer.process_words``); notebook 06's ``my_alignment`` is the same walk, returning the words.
"""


def word_errors(reference: str, hypothesis: str) -> tuple[int, int, int]:
    """``(S, D, I)`` of one utterance: ``word_errors("the cat sat", "the bat sat down") -> (1, 0, 1)``."""
    raise NotImplementedError  # YOUR CODE HERE


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER: total errors over total reference words (every reference has at least one word)."""
    raise NotImplementedError  # YOUR CODE HERE
