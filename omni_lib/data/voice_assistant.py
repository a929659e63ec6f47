"""VoiceAssistant-400K (``gpt-omni/VoiceAssistant-400K``), read from its parquet files.

The dataset of Mini-Omni's last training stage: spoken questions with a text answer and the
answer's speech as SNAC codes. 470,054 rows, 219 GB, in ``data/train-000NN-of-00325.parquet``.
Its columns, from the dataset card (README.md on the hub, revision 65dab707, "dataset_info")::

    split_name  string    the source subset, e.g. "identity"
    index       string    row number within the source subset
    round       string    turn number within a conversation
    question    string    the question's text
    question_audio audio  a struct {bytes: binary, path: string}: the encoded file, and its name
    answer      string    the answer's text (rewritten by GPT-4o to sound spoken)
    answer_snac string    the answer's speech as SNAC codes (see :func:`parse_snac`)

The card gives only the types. What ``answer_snac`` contains is not documented: it is read here
as frames separated by ``#``, each frame the 7 codes of one 85 ms SNAC frame in the order of
spec §5 (coarse, middle, fine, fine, middle, fine, fine), which is how Mini-Omni's own code
writes SNAC output and how third-party training scripts read this column. Check a few rows
(decode them with :class:`omni_lib.codec.Codec` and listen) before trusting it. The question
audio's format and rate are whatever its bytes say (the authors synthesised it with CosyVoice,
whose output is 22.05 kHz); soundfile decodes them.

Download a shard or two (each ~0.7 GB), then read them lazily, a batch of rows at a time::

    huggingface-cli download gpt-omni/VoiceAssistant-400K --repo-type dataset \\
        --include "data/train-00000-of-00325.parquet" --local-dir data/VoiceAssistant-400K

    Once it is downloaded::

        va = VoiceAssistant400K()                     # data/VoiceAssistant-400K
        ex = next(iter(va))
        ex.text, ex.extra["answer"], ex.sample_rate
        frames = parse_snac(ex.extra["answer_snac"])   # int64 [7, F]

An unreadable parquet file (counted as one), a file without the question columns, a batch that
fails to decode (its remaining rows are counted) and a row whose audio is missing or does not
decode are skipped with a warning and counted in ``.skipped`` / ``.errors``. Needs ``pyarrow``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .. import DATA_DIR
from .corpus import Corpus, Example

REPO = "gpt-omni/VoiceAssistant-400K"
COLUMNS = ("split_name", "index", "round", "question", "question_audio", "answer", "answer_snac")
REQUIRED = ("question", "question_audio")
HOW = (f"Download one shard where there is internet: huggingface-cli download {REPO} --repo-type dataset "
       f"--include 'data/train-00000-of-00325.parquet' --local-dir data/VoiceAssistant-400K")


def parse_snac(text: str) -> np.ndarray:
    """``answer_snac`` text -> int64 ``[7, F]``: frames split by ``#``, 7 codes each (module docstring).

    The result is in the layout of :func:`omni_lib.codec.frames_to_codes` (row i = audio layer i)::

        >>> parse_snac("# 1 2 3 4 5 6 7 # 8 9 10 11 12 13 14").tolist()
        [[1, 8], [2, 9], [3, 10], [4, 11], [5, 12], [6, 13], [7, 14]]
    """
    frames = []
    for n, chunk in enumerate((c for c in text.split("#") if c.strip()), 1):
        codes = chunk.split()
        if len(codes) != 7:
            raise ValueError(f"SNAC frame {n} has {len(codes)} codes, expected 7: {chunk.strip()[:80]!r}")
        try:
            frames.append([int(c) for c in codes])
        except ValueError:
            raise ValueError(f"SNAC frame {n} has a code that is not an integer: {chunk.strip()[:80]!r}") from None
    return np.asarray(frames, dtype=np.int64).reshape(-1, 7).T.copy()


class VoiceAssistant400K(Corpus):
    """Rows of VoiceAssistant-400K parquet files as :class:`Example`, question audio decoded.

    ``root``: the downloaded dataset folder (its ``*.parquet`` files are found recursively,
    default ``data/VoiceAssistant-400K``), one parquet file, or a list of files.
    ``split_names``: keep only rows from these source subsets (e.g. everything but "identity",
    whose answers name the authors' model). Each example has ``id`` = ``"<split_name>-<index>-<round>"``,
    ``text`` = the question, ``audio`` (float32, as decoded) with ``sample_rate`` and
    ``num_samples``, ``path`` = None, and ``extra`` = answer, answer_snac (the raw text),
    split_name, index, round, audio_name (the file name inside the struct), source (file:row).
    """
    name = "VoiceAssistant-400K"
    layout = "data/train-*.parquet with columns " + ", ".join(COLUMNS)

    def __init__(self, root: str | Path | Iterable[str | Path] | None = None, *,
                 split_names: Iterable[str] | None = None, limit: int | None = None,
                 batch_rows: int = 64):
        self._pq = _pyarrow_parquet()
        if root is None or isinstance(root, (str, Path)):
            root = Path(root) if root is not None else DATA_DIR / "VoiceAssistant-400K"
            if root.is_dir():
                files = sorted(root.rglob("*.parquet"))
            elif root.is_file():
                files = [root]
            else:
                raise FileNotFoundError(f"VoiceAssistant-400K not found at {root}. {HOW}")
            if not files:
                raise FileNotFoundError(f"no .parquet files under {root}. {HOW}")
        else:
            files = [Path(f) for f in root]
            root = files[0].parent if files else Path(".")
        super().__init__(root, decode=True, limit=limit)
        self.files = files
        self.split_names = None if split_names is None else set(split_names)
        self.batch_rows = batch_rows

    def _examples(self) -> Iterator[Example]:
        for f in self.files:
            try:
                pf = self._pq.ParquetFile(str(f))
            except Exception as e:      # missing, truncated, not parquet: pyarrow raises several types
                self.skip(f, f"unreadable parquet file ({type(e).__name__}: {e})")
                continue
            names = set(pf.schema_arrow.names)
            if not set(REQUIRED) <= names:
                self.skip(f, f"columns {sorted(names)} lack {sorted(set(REQUIRED) - names)}; is this "
                             f"VoiceAssistant-400K?", pf.metadata.num_rows)
                continue
            yield from self._rows(f, pf, [c for c in COLUMNS if c in names])

    def _rows(self, f: Path, pf, columns: list[str]) -> Iterator[Example]:
        batches = pf.iter_batches(batch_size=self.batch_rows, columns=columns)
        row = 0
        while True:
            # Only the read is guarded: a bad page loses the rest of this file, never the loop.
            try:
                batch = next(batches)
            except StopIteration:
                return
            except Exception as e:
                lost = pf.metadata.num_rows - row
                self.skip(f, f"unreadable after row {row} ({type(e).__name__}: {e}); {lost} rows lost", lost)
                return
            for rec in batch.to_pylist():
                ex = self._example(f, row, rec)
                row += 1
                if ex is not None:
                    yield ex

    def _example(self, f: Path, row: int, rec: dict) -> Example | None:
        import soundfile as sf

        if self.split_names is not None and rec.get("split_name") not in self.split_names:
            return None                            # filtered out, not lost
        where = f"{f.name}:{row}"
        audio = rec.get("question_audio") or {}
        blob = audio.get("bytes") if isinstance(audio, dict) else None
        if not blob:
            self.skip(where, "no question audio bytes")
            return None
        try:
            samples, rate = sf.read(io.BytesIO(blob), dtype="float32")
        except Exception as e:
            self.skip(where, f"question audio does not decode ({type(e).__name__}: {e})")
            return None
        if len(samples) == 0:
            self.skip(where, "question audio has no samples")
            return None
        question = (rec.get("question") or "").strip()
        if not question:
            self.skip(where, "no question text")
            return None
        uid = "-".join(str(rec.get(k)) for k in ("split_name", "index", "round"))
        return Example(id=uid, text=question, audio=samples,
                       sample_rate=int(rate), num_samples=len(samples),
                       extra={"answer": rec.get("answer"), "answer_snac": rec.get("answer_snac"),
                              "split_name": rec.get("split_name"), "index": rec.get("index"),
                              "round": rec.get("round"), "audio_name": audio.get("path"),
                              "source": where})


def _pyarrow_parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ImportError("reading VoiceAssistant-400K's parquet files needs pyarrow: pip install pyarrow") from e
    return pq
