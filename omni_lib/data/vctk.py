"""VCTK, read in its own layout: 110 English speakers with many accents (44 h in the paper's data).

Two releases are in use, and both are read. VCTK-Corpus-0.92 (https://datashare.ed.ac.uk/handle/10283/3443,
``VCTK-Corpus-0.92.zip``) has silence-trimmed 48 kHz FLAC from two microphones::

    VCTK-Corpus-0.92/wav48_silence_trimmed/p225/p225_001_mic1.flac    (and _mic2.flac)
    VCTK-Corpus-0.92/txt/p225/p225_001.txt                            "Please call Stella."

The older VCTK-Corpus (0.80) has one 48 kHz WAV per sentence: ``wav48/p225/p225_001.wav`` beside
the same ``txt/`` folder. Use, with the corpus unpacked into ``data/``::

        vctk = VCTK()                                     # data/VCTK-Corpus-0.92
        ex = next(iter(vctk))
        ex.id, ex.speaker, ex.text, ex.extra["mic"]
        ('p225_001', 'p225', 'Please call Stella.', 'mic1')

Texts are returned as written (capitals, punctuation); normalise them as your model needs.
Audio without a text file (all of speaker p315 in 0.92 has none), empty texts and unreadable
audio are skipped with a warning and counted in ``.skipped`` / ``.errors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .. import DATA_DIR
from .corpus import Corpus, Example, read_text, require_dir, subfolders

HOW = ("Download VCTK-Corpus-0.92.zip (11 GB) from https://datashare.ed.ac.uk/handle/10283/3443 and "
       "unzip it: unzip VCTK-Corpus-0.92.zip -d data/VCTK-Corpus-0.92 (root = the folder that holds "
       "wav48_silence_trimmed/ and txt/).")
LAYOUTS = {"0.92": ("wav48_silence_trimmed", ".flac"), "0.80": ("wav48", ".wav")}


class VCTK(Corpus):
    """VCTK sentences in speaker, sentence order, from either release (found automatically).

    ``root`` holds ``txt/`` and ``wav48_silence_trimmed/`` (0.92) or ``wav48/`` (0.80); default
    ``data/VCTK-Corpus-0.92``. ``mic`` ("mic1" or "mic2") picks 0.92's microphone; 0.80 has one.
    Examples have ``id`` (``"p225_001"``), ``text``, ``speaker``, ``path``, ``sample_rate``,
    ``num_samples`` and ``extra`` = release, mic.
    """
    name = "VCTK"

    def __init__(self, root: str | Path | None = None, *, mic: str = "mic1", decode: bool = False,
                 limit: int | None = None):
        if mic not in ("mic1", "mic2"):
            raise ValueError(f"mic must be 'mic1' or 'mic2', got {mic!r}")
        root = require_dir(Path(root) if root is not None else DATA_DIR / "VCTK-Corpus-0.92", "VCTK", HOW)
        found = [r for r, (folder, _) in LAYOUTS.items() if (root / folder).is_dir()]
        if not found:
            raise FileNotFoundError(f"{root} has neither wav48_silence_trimmed/ (VCTK 0.92) nor wav48/ "
                                    f"(VCTK 0.80). {HOW}")
        super().__init__(root, decode=decode, limit=limit)
        self.release = found[0]                   # 0.92 first, when (oddly) both are there
        self.mic = mic if self.release == "0.92" else None
        folder, ext = LAYOUTS[self.release]
        self.audio_dir = root / folder
        self.suffix = f"_{mic}{ext}" if self.release == "0.92" else ext
        self.layout = f"{folder}/<speaker>/<speaker>_<utt>{self.suffix} + txt/<speaker>/<speaker>_<utt>.txt"

    def _examples(self) -> Iterator[Example]:
        for speaker in subfolders(self.audio_dir):
            files = sorted(speaker.glob(f"*{self.suffix}"))
            texts = self.root / "txt" / speaker.name
            if files and not texts.is_dir():
                self.skip(texts, f"no text folder: {len(files)} recordings of {speaker.name} without text", len(files))
                continue
            for f in files:
                uid = f.name[:-len(self.suffix)]
                try:
                    text = read_text(texts / f"{uid}.txt")
                except FileNotFoundError:
                    self.skip(f, f"no text file {uid}.txt")
                    continue
                except (OSError, UnicodeDecodeError) as e:
                    self.skip(texts / f"{uid}.txt", f"unreadable ({e})")
                    continue
                if not text:
                    self.skip(texts / f"{uid}.txt", "empty text")
                    continue
                ex = self.audio_example(f, id=uid, text=text, speaker=speaker.name,
                                        extra={"release": self.release, "mic": self.mic})
                if ex is not None:
                    yield ex
