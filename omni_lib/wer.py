"""Word error rate: how ASR is scored, and why the text normaliser matters as much as the model.

WER = (substitutions + deletions + insertions) / words in the reference, counted on the
cheapest word alignment (a Levenshtein distance over words). Over a test set it is the **corpus**
WER: errors summed over all utterances, divided by all reference words (not a mean of
per-utterance rates, which would weigh a two-word utterance like a fifty-word one)::

    >>> e = word_errors(["the cat sat on the mat"], ["the cat sat on a mat mat"])
    >>> e["substitutions"], e["deletions"], e["insertions"], e["ref_words"], round(e["wer"], 3)
    (1, 0, 1, 6, 0.333)

The texts are normalised first, and the normaliser is part of the number. Three are used here:

* **orthographic**: the text as written, only whitespace collapsed (``"Mr. Smith"`` and
  ``"MISTER SMITH"`` share no word);
* **basic**: lower case, punctuation dropped (the course's probes use this one);
* **whisper**: openai-whisper's ``EnglishTextNormalizer``, which the ASR papers and leaderboards
  use: it also spells out contractions and abbreviations, turns number words into digits, and
  unifies British and American spelling::

    >>> normalise("Mr. Smith's colour, twenty-one!", "basic")
    "mr smith's colour twenty one"
    >>> normalise("Mr. Smith's colour, twenty-one!", "whisper")
    'mister smith is color 21'

Counts come from jiwer (``jiwer.process_words``); :func:`alignment` lists its word alignment one
word at a time, for drawing. :func:`score` rates a list of decoded utterances (the lines that
``python -m omni_lib.eval`` writes) and :func:`markdown_table` sets runs beside the paper's Table 2.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Sequence

NORMALISERS = ("orthographic", "basic", "whisper")
SPLITS = ("test-clean", "test-other", "dev-clean", "dev-other")      # the paper's columns
# Paper Table 2, WER % (spec §9); "–" where the paper gives none.
PAPER_TABLE = {"wav2vec2-base": {"test-clean": 6.0, "test-other": 13.4},
               "VITA": {"test-clean": 8.14, "test-other": 18.41, "dev-clean": 7.57, "dev-other": 16.57},
               "whisper-small": {"test-clean": 3.4, "test-other": 7.6},
               "Mini-Omni": {"test-clean": 4.5, "test-other": 9.7, "dev-clean": 4.6, "dev-other": 9.2}}


# ---------------------------------------------------------------------------------- normalisers
@functools.lru_cache(maxsize=1)
def _whisper_normaliser():
    try:
        from whisper.normalizers import EnglishTextNormalizer
    except ImportError as e:          # the eval extra: openai-whisper, jiwer
        raise ImportError("the Whisper text normaliser needs openai-whisper: pip install -e '.[eval]'") from e
    return EnglishTextNormalizer()


def basic_normalise(text: str) -> str:
    """Lower case, anything but letters, digits and apostrophes becomes a space, single spaces."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def normalise(text: str, kind: str = "whisper") -> str:
    """``text`` under one of :data:`NORMALISERS` (see the module docstring)."""
    if kind == "orthographic":
        return " ".join(text.split())
    if kind == "basic":
        return basic_normalise(text)
    if kind == "whisper":
        return " ".join(_whisper_normaliser()(text).split())
    raise ValueError(f"unknown normaliser {kind!r}; choose one of {NORMALISERS}")


# ---------------------------------------------------------------------------------- counting
def word_errors(refs: Sequence[str], hyps: Sequence[str]) -> dict:
    """Corpus WER of already-normalised texts, with its counts.

    Returns ``wer``, ``substitutions``, ``deletions``, ``insertions``, ``hits`` and ``ref_words``.
    Empty texts are allowed on either side: an empty hypothesis deletes every reference word, an
    empty reference makes every hypothesis word an insertion (older jiwer versions refuse
    both, so those pairs are counted here). With no reference words at all, ``wer`` is 0 when
    nothing was inserted and infinite otherwise.

        >>> word_errors(["a b", ""], ["", "x y"])["wer"]      # 2 deletions + 2 insertions over 2 words
        2.0
    """
    import jiwer

    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    refs = [" ".join(r.split()) for r in refs]
    hyps = [" ".join(h.split()) for h in hyps]
    both = [(r, h) for r, h in zip(refs, hyps) if r and h]
    c = dict(substitutions=0, deletions=0, insertions=0, hits=0)
    if both:
        out = jiwer.process_words([r for r, _ in both], [h for _, h in both])
        c = dict(substitutions=out.substitutions, deletions=out.deletions, insertions=out.insertions, hits=out.hits)
    for r, h in zip(refs, hyps):
        if not (r and h):
            c["deletions"] += len(r.split())
            c["insertions"] += len(h.split())
    n = c["hits"] + c["substitutions"] + c["deletions"]
    errors = c["substitutions"] + c["deletions"] + c["insertions"]
    wer = errors / n if n else (0.0 if errors == 0 else float("inf"))
    return {"wer": wer, **c, "ref_words": n}


def alignment(ref: str, hyp: str) -> list[tuple[str, str, str]]:
    """jiwer's word alignment, one ``(op, ref_word, hyp_word)`` per aligned word.

    ``op`` is ``"="`` (hit), ``"S"`` (substitution), ``"D"`` (deletion: ``hyp_word`` is ``""``)
    or ``"I"`` (insertion: ``ref_word`` is ``""``)::

        >>> alignment("the cat sat", "the bat sat down")
        [('=', 'the', 'the'), ('S', 'cat', 'bat'), ('=', 'sat', 'sat'), ('I', '', 'down')]
    """
    import jiwer

    r, h = ref.split(), hyp.split()
    if not r or not h:
        return [("D", w, "") for w in r] + [("I", "", w) for w in h]
    ops = []
    for chunk in jiwer.process_words(ref, hyp).alignments[0]:
        rw, hw = r[chunk.ref_start_idx:chunk.ref_end_idx], h[chunk.hyp_start_idx:chunk.hyp_end_idx]
        if chunk.type == "equal":
            ops += [("=", a, b) for a, b in zip(rw, hw)]
        elif chunk.type == "substitute":
            ops += [("S", a, b) for a, b in zip(rw, hw)]
        elif chunk.type == "delete":
            ops += [("D", a, "") for a in rw]
        else:
            ops += [("I", "", b) for b in hw]
    return ops


# ---------------------------------------------------------------------------------- a run's score
def score(records: list[dict], window_s: float) -> dict:
    """Corpus WER of decoded utterances (dicts with ``reference``, ``hypothesis``, ``duration``,
    ``seconds``) under the three normalisers, the Whisper-normalised counts, audio and processing
    seconds, RTFx, and how many clips exceed the encoder window (``window_s``)."""
    out = {"n": len(records)}
    for kind in ("whisper", "orthographic", "basic"):
        e = word_errors([normalise(r["reference"], kind) for r in records],
                        [normalise(r["hypothesis"], kind) for r in records])
        key = "wer" if kind == "whisper" else f"wer_{kind}"
        out[key] = e["wer"]
        if kind == "whisper":
            out.update({k: e[k] for k in ("substitutions", "deletions", "insertions", "ref_words")})
    audio = sum(r["duration"] for r in records)
    busy = sum(r["seconds"] for r in records)
    out.update(audio_seconds=round(audio, 2), seconds=round(busy, 2), rtfx=audio / busy if busy else None,
               longer_than_window=sum(r["duration"] > window_s for r in records),
               empty_references=sum(not normalise(r["reference"]) for r in records))
    return out


# ---------------------------------------------------------------------------------- the table
def _pct(x) -> str:
    return "–" if x is None else "inf" if x == float("inf") else f"{100 * x:.1f}" if x < 10 else f"{100 * x:.0f}"


def _rtfx(x) -> str:
    return "–" if not x else f"{x:.1f}" if x < 10 else f"{x:.0f}"


def markdown_table(summaries: list[dict]) -> str:
    """Our runs beside the paper's Table 2 (WER %, Whisper-normalised) and each split's details."""
    extra = [s for run in summaries for s in run["splits"] if s not in SPLITS]
    cols = list(SPLITS) + list(dict.fromkeys(extra))
    lines = ["| model | " + " | ".join(cols) + " | RTFx | source |", "|---" * (len(cols) + 3) + "|"]
    for model, row in PAPER_TABLE.items():
        lines.append(f"| {model} | " + " | ".join(str(row.get(c, "–")) for c in cols) + " | – | paper, Table 2 |")
    for run in summaries:
        wer = {s: _pct(v.get("wer")) for s, v in run["splits"].items()}
        where = "/".join(Path(run["data_root"]).parts[-2:])
        lines.append(f"| **{run['run']}** | " + " | ".join(wer.get(c, "–") for c in cols) +
                     f" | {_rtfx(run.get('rtfx'))} | this repo: {where}, {run['device']} |")
    lines += ["", "| run | split | utterances | audio min | WER % | orthographic % | basic % | S / D / I | "
                  "RTFx | skipped |", "|---|---|---|---|---|---|---|---|---|---|"]
    for run in summaries:
        for s, v in run["splits"].items():
            if "wer" not in v:
                lines.append(f"| {run['run']} | {s} | 0 | – | – | – | – | – | – | {v.get('skipped', 0)} |")
                continue
            lines.append(f"| {run['run']} | {s} | {v['n']} | {v['audio_seconds'] / 60:.1f} | {_pct(v['wer'])} | "
                         f"{_pct(v['wer_orthographic'])} | {_pct(v['wer_basic'])} | {v['substitutions']} / "
                         f"{v['deletions']} / {v['insertions']} | {_rtfx(v.get('rtfx'))} | {v['skipped']} |")
    return "\n".join(lines) + "\n"
