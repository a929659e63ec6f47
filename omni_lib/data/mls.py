"""Multilingual LibriSpeech (OpenSLR 94) in LibriSpeech's layout, so :class:`.LibriSpeech` reads it.

The paper's ASR data is mostly MLS (8,000 h of its English part). MLS keeps one transcript file
per split; LibriSpeech keeps one per chapter. Unpacked ``mls_english.tar.gz`` (the FLAC release)::

    mls_english/train/transcripts.txt                      "<spk>_<book>_<utt>\\t<text>" lines
    mls_english/train/audio/<spk>/<book>/<spk>_<book>_<utt>.flac

:func:`to_librispeech` writes the other layout beside it, with symbolic links to the audio (no
copy): ``DST/train/<spk>/<book>/<spk>-<book>-<utt>.flac`` and ``<spk>-<book>.trans.txt``::

    python -m omni_lib.data.mls data/mls_english data/mls_english_librispeech_layout --splits train

Lines whose audio file is missing are left out and counted. Texts are kept as written (MLS's are
lower case).
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from pathlib import Path

from omni_lib.cli import add_debug, command, existing_path, writable_dir


def to_librispeech(src: str | Path, dst: str | Path, splits=("train",)) -> dict[str, dict[str, int]]:
    """Link ``src/<split>`` (MLS layout) into ``dst/<split>`` (LibriSpeech layout); counts per split."""
    src, dst = Path(src), Path(dst)
    report = {}
    for split in splits:
        trans = src / split / "transcripts.txt"
        if not trans.is_file():
            raise FileNotFoundError(f"{trans} does not exist: is {src} an unpacked MLS language folder "
                                    f"(e.g. mls_english, with train/ dev/ test/)?")
        chapters, missing = defaultdict(list), 0
        for line in trans.read_text(encoding="utf-8").splitlines():
            uid, _, text = line.partition("\t")
            parts = uid.strip().split("_")
            if len(parts) != 3 or not text.strip():
                missing += 1
                continue
            spk, book, utt = parts
            audio = src / split / "audio" / spk / book / f"{uid.strip()}.flac"
            if not audio.is_file():
                missing += 1
                continue
            folder = dst / split / spk / book
            folder.mkdir(parents=True, exist_ok=True)
            link = folder / f"{spk}-{book}-{utt}.flac"
            if not link.exists():
                os.symlink(audio.resolve(), link)
            chapters[(spk, book)].append(f"{spk}-{book}-{utt} {text.strip()}")
        for (spk, book), lines in chapters.items():
            (dst / split / spk / book / f"{spk}-{book}.trans.txt").write_text("\n".join(sorted(lines)) + "\n")
        report[split] = {"utterances": sum(map(len, chapters.values())), "left_out": missing}
    return report


@command("python -m omni_lib.data.mls")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m omni_lib.data.mls", description=__doc__.splitlines()[0])
    ap.add_argument("src", help="an unpacked MLS language folder, e.g. data/mls_english")
    ap.add_argument("dst", help="where to write the LibriSpeech layout (links to the audio)")
    ap.add_argument("--splits", nargs="+", default=["train"])
    add_debug(ap)
    args = ap.parse_args(argv)
    existing_path(args.src, "src", kind="dir", hint="an unpacked MLS language folder, e.g. data/mls_english")
    for split in args.splits:
        existing_path(Path(args.src) / split, "--splits", kind="dir")
    writable_dir(args.dst, "dst")
    print(to_librispeech(args.src, args.dst, args.splits))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
