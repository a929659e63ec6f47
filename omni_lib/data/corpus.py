"""What every corpus loader yields (:class:`Example`), and how loaders survive bad files (:class:`Corpus`).

Real corpora have holes: a chapter without its transcript, a truncated FLAC, a parquet shard that
stopped downloading halfway. A loader that raises on file 40,000 wastes an epoch; one that drops
files silently hides a broken download. So every loader here skips what it cannot read, warns
(:class:`CorpusWarning`, the first few times), and counts: during and after iteration,
``corpus.skipped`` is the number of examples lost and ``corpus.errors`` says why, one line each.
Loaders are lazy (they walk the folders as you iterate) and can be iterated again::

    >>> from omni_lib import DATA_DIR
    >>> from omni_lib.data import LibriSpeech
    >>> train = LibriSpeech(DATA_DIR / "course", split="train")   # the course corpus: LibriSpeech layout
    >>> ex = next(iter(train))
    >>> ex.id, ex.speaker, ex.text, ex.sample_rate
    ('101-1-0006', '101', 'WHAT IS ONE PLUS SEVEN', 16000)
    >>> ex.load(16_000).shape                                       # float32 mono, via omni_lib.audio
    torch.Size([23174])
    >>> sum(1 for _ in train), train.skipped
    (454, 0)

By default a loader reads only each file's header (rate and length: fast, and enough to catch
most broken files); ``decode=True`` reads every sample while iterating, so a truncated file is
caught there rather than in the middle of training, and ``Example.audio`` holds the samples.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

MAX_WARNINGS = 5            # per pass; the rest are only counted (a broken corpus can have thousands)


class CorpusWarning(UserWarning):
    """A file that a corpus loader skipped (filter with ``warnings.simplefilter``)."""


@dataclass
class Example:
    """One utterance: an id, its transcript, and its audio as a file, as samples, or both.

    ``path`` is None when the audio never was a file (VoiceAssistant-400K keeps it inside
    parquet); ``audio`` is None until decoded. ``extra`` holds what is particular to a corpus
    (chapter, the original text, the answer of a question, ...).
    """
    id: str
    text: str
    speaker: str = ""
    path: Path | None = None
    audio: np.ndarray | None = None        # float32 [N] or [N, C], as stored
    sample_rate: int | None = None
    num_samples: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        return None if not self.sample_rate or self.num_samples is None else self.num_samples / self.sample_rate

    def load(self, target_rate: int = 16_000, *, max_seconds: float | None = None):
        """The audio as float32 mono ``torch.Tensor [M]`` at ``target_rate`` (Whisper's 16 kHz by default)."""
        from ..audio import load_audio, to_model_audio

        if self.audio is not None:
            return to_model_audio(self.audio, self.sample_rate, target_rate=target_rate,
                                  max_seconds=max_seconds, name=self.id)
        if self.path is not None:
            return load_audio(self.path, target_rate, max_seconds=max_seconds)
        raise ValueError(f"example {self.id!r} has neither audio samples nor an audio file")


class Corpus:
    """Base of the loaders: iteration with ``limit``, and the skip-warn-count bookkeeping.

    A subclass sets ``name`` and ``layout`` (for messages) and writes ``_examples()``, a generator
    that calls :meth:`skip` for anything it cannot use and never raises for a bad file.
    """
    name = "corpus"
    layout = ""

    def __init__(self, root: Path, *, decode: bool = False, limit: int | None = None):
        self.root = Path(root)
        self.decode = decode
        self.limit = limit
        self.skipped = 0
        self.errors: list[str] = []

    def __iter__(self) -> Iterator[Example]:
        self.skipped, self.errors = 0, []          # each pass counts afresh
        n = 0
        if self.limit is not None and self.limit <= 0:
            return
        for ex in self._examples():
            yield ex
            n += 1
            if self.limit is not None and n >= self.limit:
                return
        if n == 0 and not self.skipped:
            warnings.warn(f"{self.name}: found no utterances under {self.root}; expected the layout "
                          f"{self.layout}", CorpusWarning, stacklevel=2)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, skipped={self.skipped})"

    def _examples(self) -> Iterator[Example]:
        raise NotImplementedError

    def skip(self, where, why: str, count: int = 1) -> None:
        """Record ``count`` lost examples at ``where`` (a path or a description), and warn."""
        self.skipped += count
        self.errors.append(f"{where}: {why}")
        if len(self.errors) <= MAX_WARNINGS:
            warnings.warn(f"{self.name}: skipped {where}: {why}", CorpusWarning, stacklevel=3)
        elif len(self.errors) == MAX_WARNINGS + 1:
            warnings.warn(f"{self.name}: more problems; they are counted in .skipped and listed in "
                          f".errors without further warnings", CorpusWarning, stacklevel=3)

    def audio_example(self, path: Path, **fields) -> Example | None:
        """An :class:`Example` for the audio file ``path``, or None (skipped) if it is unreadable."""
        import soundfile as sf

        try:
            if self.decode:
                audio, rate = sf.read(str(path), dtype="float32")
                frames = len(audio)
            else:
                info = sf.info(str(path))
                audio, rate, frames = None, info.samplerate, info.frames
        except Exception as e:         # libsndfile reports bad files as several exception types
            self.skip(path, f"unreadable audio ({type(e).__name__}: {e})")
            return None
        if frames == 0:
            self.skip(path, "audio file has no samples")
            return None
        return Example(path=Path(path), audio=audio, sample_rate=int(rate), num_samples=int(frames), **fields)


def require_dir(root: Path, what: str, how: str) -> Path:
    """``root`` if it is a folder, else FileNotFoundError naming the corpus and how to get it."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{what} not found at {root}. {how}")
    return root


def subfolders(folder: Path) -> list[Path]:
    """Sub-folders in a natural order ("2" before "10"), hidden ones left out."""
    def key(p: Path):
        return (0, int(p.name), "") if p.name.isdigit() else (1, 0, p.name)
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=key)


def read_text(path: Path) -> str:
    """A transcript file as stripped UTF-8 text (raises OSError / UnicodeDecodeError for callers to skip)."""
    return path.read_text(encoding="utf-8").strip()
