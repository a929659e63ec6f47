"""LibriSpeech (OpenSLR SLR12), read in its own layout: the corpus of the paper's ASR table.

After ``tar xzf dev-clean.tar.gz`` (from https://www.openslr.org/12) a split looks like::

    LibriSpeech/dev-clean/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    LibriSpeech/dev-clean/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   # "<utt id> TEXT" lines

Transcripts are upper case without punctuation; 16 kHz mono FLAC. The course's own corpus
(``data/course``, :mod:`omni_lib.data.synth`) has the same layout, so the worked example runs
offline on it; with LibriSpeech downloaded it reads the same way::

    >>> from omni_lib import DATA_DIR
    >>> test = LibriSpeech(DATA_DIR / "course", split="test-voices")
    >>> [(ex.id, ex.text) for ex in test][:2]
    [('201-1-0013', 'WHAT IS TWO PLUS FIVE'), ('201-1-0015', 'WHAT IS TWO PLUS SEVEN')]

    Once the corpus is downloaded (not run in the tests: it is not on the test machines)::

        dev = LibriSpeech(split="dev-clean")        # data/LibriSpeech/dev-clean
        next(iter(dev)).text
        'MISTER QUILTER IS THE APOSTLE OF THE MIDDLE CLASSES AND WE ARE GLAD TO WELCOME HIS GOSPEL'

Skipped, with a warning, and counted in ``.skipped`` / ``.errors`` (never raised mid-iteration):
a chapter without its ``trans.txt`` (all its files), a FLAC that the transcript does not list, a
listed utterance whose FLAC is missing, an empty transcript line, an unreadable FLAC.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .. import DATA_DIR
from .corpus import Corpus, Example, read_text, require_dir, subfolders

SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other",
          "train-clean-100", "train-clean-360", "train-other-500")
HOW = ("Download a split from https://www.openslr.org/12 (e.g. dev-clean.tar.gz, 337 MB) and unpack "
       "it into data/: tar xzf dev-clean.tar.gz -C data/ (it unpacks as LibriSpeech/dev-clean/).")


class LibriSpeech(Corpus):
    """The utterances of one LibriSpeech split, in speaker, chapter, utterance order.

    ``root`` is the split folder (``.../LibriSpeech/dev-clean``), or its parent together with
    ``split``; the default parent is ``data/LibriSpeech``. Each :class:`Example` has ``id``
    (``"1272-128104-0000"``), ``text``, ``speaker``, ``path``, ``sample_rate``, ``num_samples``
    and ``extra["chapter"]``.
    """
    name = "LibriSpeech"
    layout = "<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac + <speaker>-<chapter>.trans.txt"

    def __init__(self, root: str | Path | None = None, split: str | None = None, *,
                 decode: bool = False, limit: int | None = None):
        root = Path(root) if root is not None else DATA_DIR / "LibriSpeech"
        if split is not None:
            root = root / split
        super().__init__(require_dir(root, f"LibriSpeech {split or ''}".strip(), HOW), decode=decode, limit=limit)
        # A folder of splits (LibriSpeech/ itself) is a common mistake: say so now, not "0 examples".
        if next(self.root.glob("*/*/*.trans.txt"), None) is None:
            splits = sorted(p.parent.parent.parent.name for p in self.root.glob("*/*/*/*.trans.txt"))
            if splits:
                raise ValueError(f"{self.root} holds splits ({', '.join(dict.fromkeys(splits))}), not "
                                 f"speakers: pass split=..., e.g. LibriSpeech({str(self.root)!r}, "
                                 f"split={splits[0]!r})")

    def _examples(self) -> Iterator[Example]:
        for speaker in subfolders(self.root):
            for chapter in subfolders(speaker):
                yield from self._chapter(speaker.name, chapter)

    def _chapter(self, speaker: str, folder: Path) -> Iterator[Example]:
        flacs = {p.stem: p for p in folder.glob("*.flac")}
        trans = folder / f"{speaker}-{folder.name}.trans.txt"
        try:
            lines = read_text(trans).splitlines()
        except FileNotFoundError:
            if flacs:
                self.skip(folder, f"no {trans.name}: {len(flacs)} utterances without a transcript", len(flacs))
            return
        except (OSError, UnicodeDecodeError) as e:
            self.skip(trans, f"unreadable transcript file ({e}): {len(flacs)} utterances lost", len(flacs))
            return
        texts = {}
        for n, line in enumerate(lines, 1):
            uid, _, text = line.strip().partition(" ")
            if uid and not text.strip():
                self.skip(f"{trans}:{n}", f"no transcript for {uid}")
                flacs.pop(uid, None)           # counted once, here
            elif uid:
                texts[uid] = text.strip()
        for uid in sorted(texts.keys() | flacs.keys()):
            if uid not in flacs:
                self.skip(folder / f"{uid}.flac", f"listed in {trans.name} but the file is missing")
            elif uid not in texts:
                self.skip(flacs[uid], f"not listed in {trans.name}")
            else:
                ex = self.audio_example(flacs[uid], id=uid, text=texts[uid], speaker=speaker,
                                        extra={"chapter": folder.name})
                if ex is not None:
                    yield ex
