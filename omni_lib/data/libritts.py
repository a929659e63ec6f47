"""LibriTTS (OpenSLR SLR60), read in its own layout: 586 h of the paper's ASR/TTS training data.

LibriTTS re-cuts LibriSpeech's books into sentences at 24 kHz and keeps each sentence's text
twice: as printed (``original``: "Mr. Quilter is the apostle...") and with numbers and
abbreviations spelled out (``normalized``: "Mister Quilter is the apostle..."). After
``tar xzf dev-clean.tar.gz`` (from https://www.openslr.org/60)::

    LibriTTS/dev-clean/<speaker>/<chapter>/<speaker>_<chapter>_<paragraph>_<sentence>.wav
    LibriTTS/dev-clean/<speaker>/<chapter>/<id>.normalized.txt
    LibriTTS/dev-clean/<speaker>/<chapter>/<id>.original.txt

(the ``<speaker>_<chapter>.trans.tsv`` and ``.book.tsv`` files beside them are not needed).
Use, with the corpus downloaded into ``data/``::

        tts = LibriTTS(split="dev-clean")
        ex = next(iter(tts))
        ex.sample_rate, ex.extra["original"] != ex.text
        (24000, True)

``text="normalized"`` (default) or ``"original"`` picks ``Example.text``; ``extra`` holds both
(``None`` where a file is missing). A WAV without the chosen text file, a text file without its
WAV, an empty text and an unreadable WAV are skipped with a warning and counted in
``.skipped`` / ``.errors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .. import DATA_DIR
from .corpus import Corpus, Example, read_text, require_dir, subfolders

SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other",
          "train-clean-100", "train-clean-360", "train-other-500")
HOW = ("Download a split from https://www.openslr.org/60 (e.g. dev-clean.tar.gz, 1.2 GB) and unpack "
       "it into data/: tar xzf dev-clean.tar.gz -C data/ (it unpacks as LibriTTS/dev-clean/).")
TEXTS = ("normalized", "original")


class LibriTTS(Corpus):
    """The sentences of one LibriTTS split, in speaker, chapter, id order.

    ``root`` is the split folder or, with ``split``, its parent (default ``data/LibriTTS``).
    Examples have ``id`` (``"84_121123_000007_000000"``), ``text``, ``speaker``, ``path``,
    ``sample_rate``, ``num_samples`` and ``extra`` = chapter, normalized, original.
    """
    name = "LibriTTS"
    layout = "<speaker>/<chapter>/<id>.wav + <id>.normalized.txt + <id>.original.txt"

    def __init__(self, root: str | Path | None = None, split: str | None = None, *,
                 text: str = "normalized", decode: bool = False, limit: int | None = None):
        if text not in TEXTS:
            raise ValueError(f"text must be one of {TEXTS}, got {text!r}")
        root = Path(root) if root is not None else DATA_DIR / "LibriTTS"
        if split is not None:
            root = root / split
        super().__init__(require_dir(root, f"LibriTTS {split or ''}".strip(), HOW), decode=decode, limit=limit)
        self.text = text

    def _examples(self) -> Iterator[Example]:
        for speaker in subfolders(self.root):
            for chapter in subfolders(speaker):
                yield from self._chapter(speaker.name, chapter)

    def _chapter(self, speaker: str, folder: Path) -> Iterator[Example]:
        wavs = {p.stem: p for p in folder.glob("*.wav")}
        # ids that have some text file but no audio are lost utterances too
        texts = {p.name.split(".")[0] for kind in TEXTS for p in folder.glob(f"*.{kind}.txt")}
        for uid in sorted(wavs.keys() | texts):
            if uid not in wavs:
                self.skip(folder / f"{uid}.wav", "text files but no audio file")
                continue
            got, why = {}, {}
            for kind in TEXTS:
                try:
                    got[kind] = read_text(folder / f"{uid}.{kind}.txt")
                except FileNotFoundError:
                    got[kind], why[kind] = None, "missing"
                except (OSError, UnicodeDecodeError) as e:
                    got[kind], why[kind] = None, f"unreadable ({e})"
            text = got[self.text]
            if text is None:
                self.skip(folder / f"{uid}.{self.text}.txt", f"{why[self.text]}: its audio has no text")
            elif not text:
                self.skip(folder / f"{uid}.{self.text}.txt", "empty text")
            else:
                ex = self.audio_example(wavs[uid], id=uid, text=text, speaker=speaker,
                                        extra={"chapter": folder.name, **got})
                if ex is not None:
                    yield ex
