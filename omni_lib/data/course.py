"""The course's spoken question/answer pairs (``data/course``), as a list of examples.

:mod:`omni_lib.data.synth` writes ``assistant.jsonl``: one line per spoken question, with the
texts, the question's audio (some voice) and the answer's audio (the assistant's voice).
:func:`load_course` reads it, turns the relative paths into absolute ones and checks that the
files are there, so that a broken checkout fails here, with a message, and not mid-training::

    >>> train = load_course(split="train")
    >>> len(train), len(load_course(split="test-voices")), len(load_course(split="test-items"))
    (454, 57, 32)
    >>> ex = train[0]
    >>> ex.question, ex.answer, ex.voice
    ('what is one plus three', 'one plus three is four', 'flite/kal')
    >>> ex.load_question().shape, ex.load_answer(24_000).shape     # Whisper 16 kHz, SNAC 24 kHz
    (torch.Size([25564]), torch.Size([40080]))

For ASR-style access to the same audio, read a split folder with
:class:`omni_lib.data.LibriSpeech` (same layout); for text only, use :mod:`omni_lib.data.domain`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .. import DATA_DIR

SPLITS = ("train", "test-voices", "test-items")
HOW = ("The course ships it in data/course; to regenerate it (needs flite, espeak-ng, festival): "
       "python -m omni_lib.data.synth --small")


@dataclass(frozen=True)
class CourseExample:
    """One spoken question and its spoken answer (``*_audio`` are absolute paths)."""
    id: str                 # the question's utterance id, e.g. "101-1-0006"
    item: str               # the domain item, e.g. "plus-01-07"
    topic: str
    split: str
    question: str
    answer: str
    question_audio: Path
    answer_audio: Path
    voice: str              # who asks, e.g. "flite/kal16"; every answer is the assistant's
    speaker: int
    question_seconds: float
    answer_seconds: float

    def load_question(self, target_rate: int = 16_000):
        """The question as float32 mono ``torch.Tensor``, at Whisper's rate by default."""
        from ..audio import load_audio
        return load_audio(self.question_audio, target_rate)

    def load_answer(self, target_rate: int = 24_000):
        """The answer as float32 mono ``torch.Tensor``, at SNAC's rate by default."""
        from ..audio import load_audio
        return load_audio(self.answer_audio, target_rate)


def load_course(root: str | Path | None = None, split: str | None = None, *,
                check_files: bool = True) -> list[CourseExample]:
    """The examples of ``split`` (``"train"``, ``"test-voices"``, ``"test-items"``; None = all).

    ``root`` defaults to ``data/course``. Raises FileNotFoundError for a missing corpus or audio
    file and ValueError for an unknown split or a malformed manifest line.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} (or None for all), got {split!r}")
    root = Path(root) if root is not None else DATA_DIR / "course"
    manifest = root / "assistant.jsonl"
    if not manifest.is_file():
        raise FileNotFoundError(f"no course corpus at {root} ({manifest.name} is missing). {HOW}")
    out = []
    with open(manifest, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                ex = CourseExample(**{**row, "question_audio": root / row["question_audio"],
                                      "answer_audio": root / row["answer_audio"]})
            except (ValueError, TypeError, KeyError) as e:
                raise ValueError(f"{manifest}:{n} is not a course manifest line ({e}). {HOW}") from e
            if split is None or ex.split == split:
                out.append(ex)
    if check_files:
        missing = sorted({str(p) for ex in out for p in (ex.question_audio, ex.answer_audio) if not p.is_file()})
        if missing:
            raise FileNotFoundError(f"{len(missing)} audio files named in {manifest} are missing, e.g. "
                                    f"{missing[0]}. {HOW}")
    return out
