"""The paper's corpora as indexed items that a training step can build in any order.

A loader (:mod:`.librispeech`, :mod:`.voice_assistant`, ...) walks a corpus from start to end;
training wants item ``j`` of it at any moment. So each dataset is walked once, through its
loader, into an **index**: one small record per usable utterance, saved as JSON under
``CACHE/index/``. An item is then built from its record on demand::

    record (file, text, length) --read audio--> Whisper features [L, D]   cached per item
                                --read audio--> SNAC codes [7, F]         cached per item (TTS)
                                --tokenize----> text ids                  (fast; not cached)

Cache keys name the source (dataset kind, file inside the dataset, its size, the parquet row)
and the model (:func:`model_tag`), not the samples: a cached item is read without opening its
audio at all, which matters when a training step builds 192 of them. A file replaced by one of
another size gets a new key; after other changes to a dataset, delete its index file.

    >>> item_key("librispeech", "84/121123/84-121123-0000.flac", 43208)
    '857aed1063804d0fe159adea'

VoiceAssistant-400K keeps its audio inside parquet row groups of about a hundred rows, so reading
one question means reading its whole row group. The index pass (which decodes every row anyway)
also stores each row's texts and SNAC answer codes under ``CACHE/va-rows/``; only the question's
Whisper features need the audio again, and ``python -m omni_lib.data.mixture prepare`` computes
them in file order, one row group at a time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Callable

import torch

from omni_lib.audio import load_audio
from omni_lib.batches import example_length
from omni_lib.encoder import WHISPER_RATE, n_features

from .corpus import MAX_WARNINGS, CorpusWarning

INDEX_VERSION = 1
MAX_LISTED_ERRORS = 100          # an index keeps this many skip reasons (it counts them all)
FILE_KINDS = ("librispeech", "libritts", "vctk")
KINDS = FILE_KINDS + ("voice_assistant",)


def item_key(*parts) -> str:
    """A stable 24-hex-digit name for an item's cache files."""
    return hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()[:24]


def model_tag(name: str, weights: torch.Tensor) -> str:
    """``<name>-<hash of a weight tensor>``: features of real and random weights never mix in a cache."""
    digest = hashlib.sha1(weights.detach().float().cpu().numpy().tobytes()).hexdigest()[:10]
    return f"{name}-{digest}"


def resampled_length(samples: int, rate: int, target: int) -> int:
    """Samples after resampling, as :func:`omni_lib.audio.to_model_audio` counts them (rounded up)."""
    return -(-samples * target // rate)


# ---------------------------------------------------------------------------------- caches
class ItemCache:
    """Whisper features and SNAC codes of items, computed once and kept on disk.

    ``root=None`` keeps nothing: everything is computed on every access (the Whisper encoder costs
    a few per cent of a training step on a GPU; the disk cache costs 0.77 MB per 10 s of speech).
    Features are stored as float16 and returned as float32.
    """

    def __init__(self, root: Path | None, cfg, *, encoder=None, codec=None):
        self.root, self.encoder, self.codec = (Path(root) if root else None), encoder, codec
        self.features_dir = self.codes_dir = None
        if self.root and encoder is not None:
            name = f"{Path(str(cfg.whisper_model)).stem}-{encoder.window_s:g}s"
            self.features_dir = self.root / f"whisper-{model_tag(name, encoder.encoder.conv1.weight)}"
        if self.root and codec is not None:
            books = torch.cat([q.codebook.weight.flatten() for q in codec.model.quantizer.quantizers])
            self.codes_dir = self.root / f"snac-{model_tag(Path(str(cfg.snac_model)).name, books)}"

    def features(self, key: str, wave16k: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``[L, D]`` Whisper features of the item ``key``; ``wave16k()`` gives its 16 kHz audio if needed."""
        if self.encoder is None:
            raise RuntimeError("no Whisper encoder was given, so no speech input can be encoded")
        return _cached(self.features_dir, key, lambda: self._encode(wave16k())).float()

    def codes(self, key: str, wave24k: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``[7, F]`` SNAC codes of the item ``key``; ``wave24k()`` gives its 24 kHz audio if needed."""
        if self.codec is None:
            raise RuntimeError("no SNAC codec was given, so no speech answer can be encoded")
        return _cached(self.codes_dir, key, lambda: self.codec.encode(wave24k(), 24_000).short()).long()

    def has(self, product: str, key: str) -> bool:
        folder = self.features_dir if product == "features" else self.codes_dir
        return folder is not None and _file(folder, key).is_file()

    def _encode(self, wave: torch.Tensor) -> torch.Tensor:
        # fp32 whatever autocast the caller runs under: cached features must not depend on it
        device = self.encoder._device
        with torch.autocast(device.type, enabled=False):
            feats, lengths = self.encoder.encode([wave], WHISPER_RATE)
        self.encoder.clear_cache()                    # the disk cache is ours; keep no copy in memory
        return feats[0, : int(lengths[0])].half()


def _file(folder: Path, key: str) -> Path:
    return folder / key[:2] / f"{key}.pt"            # 256 sub-folders: no folder of a million files


def _cached(folder: Path | None, key: str, make: Callable[[], torch.Tensor]) -> torch.Tensor:
    if folder is None:
        return make()
    path = _file(folder, key)
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception:                             # a file cut short by a crash: make it again
            path.unlink(missing_ok=True)
    value = make()
    save_atomic(value, path)
    return value


def save_atomic(value, path: Path) -> None:
    """``torch.save`` to a temporary name, then rename: readers (other ranks) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(value, tmp)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------- sources
class Source:
    """One dataset of the mixture: its index (``records``), and items built from it.

    Subclasses define ``_walk()`` (the index pass, through the loader), :meth:`length` (the
    example's positions and audio seconds, from the record alone) and :meth:`build`.
    """

    def __init__(self, name: str, spec, data: dict, row_cache: Path | None = None):
        self.name, self.spec, self.records = name, spec, data["records"]
        self.skipped, self.errors = data["skipped"], data["errors"]   # lost while indexing (loader's and ours)
        self.extra, self.row_cache = data.get("extra", {}), row_cache

    @classmethod
    def open(cls, name: str, spec, tokenizer, index_dir: Path, *, progress: bool = True,
             row_cache: Path | None = None) -> "Source":
        """The dataset's index from ``index_dir``, or made now (one pass over the corpus) and saved there."""
        sub = {"librispeech": FileSource, "libritts": FileSource, "vctk": FileSource,
               "voice_assistant": VoiceAssistantSource}[spec.kind]
        sig = {"version": INDEX_VERSION, "spec": spec.signature(),
               "tokenizer": [tokenizer.kind, tokenizer.n_text, tokenizer.limit, tokenizer.kept]}
        path = index_dir / f"{name}-{item_key(json.dumps(sig, sort_keys=True))}.json"
        if path.is_file():
            data = json.loads(path.read_text())
        else:
            from tqdm.auto import tqdm

            bar = tqdm(desc=f"index {name}", unit=" items", disable=not progress, dynamic_ncols=True)
            data = sub._walk(spec, tokenizer, bar, row_cache)
            bar.close()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, path)
        return sub(name, spec, data, row_cache)

    def __len__(self) -> int:
        return len(self.records)

    def length(self, task: str, r: int, cfg) -> tuple[int, float]:
        raise NotImplementedError

    def build(self, task: str, r: int, tokenizer, cache: ItemCache):
        raise NotImplementedError

    def ensure(self, product: str, r: int, cache: ItemCache) -> None:
        """Compute and cache item ``r``'s ``"features"`` or ``"codes"`` (for ``prepare``)."""
        raise NotImplementedError


def _walk_loop(corpus, bar, records: list, errors: list, per_example) -> int:
    """Iterate the loader; ``per_example`` adds a record, or says why the example is unusable."""
    for ex in corpus:
        why = per_example(ex)
        if why:
            errors.append(f"{ex.id}: {why}")
            if len(errors) <= MAX_WARNINGS:
                warnings.warn(f"{corpus.name}: skipped {errors[-1]}", CorpusWarning, stacklevel=2)
        bar.update(1)
    errors.extend(corpus.errors)
    return corpus.skipped


def _finish(records, skipped, errors, **extra) -> dict:
    return {"records": records, "skipped": skipped, "errors": errors[:MAX_LISTED_ERRORS],
            "n_errors": len(errors), "extra": extra}


class FileSource(Source):
    """LibriSpeech (and MLS in its layout), LibriTTS, VCTK: one audio file and one text per item.

    A record is ``[id, path inside the dataset, text, samples, rate, text tokens, file size]``.
    """

    @staticmethod
    def _walk(spec, tokenizer, bar, row_cache=None) -> dict:
        from . import VCTK, LibriSpeech, LibriTTS

        if spec.kind == "vctk":
            corpora = [VCTK(spec.path, mic=spec.mic, limit=spec.limit)]
        else:
            loader = LibriSpeech if spec.kind == "librispeech" else LibriTTS
            corpora = [loader(spec.path, split, limit=spec.limit) for split in (spec.splits or [None])]
        records, errors, skipped = [], [], 0

        def add(ex):
            text = ex.text.lower() if spec.lowercase else ex.text
            n_text = len(tokenizer.encode(text))
            records.append([ex.id, ex.path.relative_to(spec.path).as_posix(), text, ex.num_samples,
                            ex.sample_rate, n_text, ex.path.stat().st_size])

        for corpus in corpora:
            skipped += _walk_loop(corpus, bar, records, errors, add)
        return _finish(records, skipped, errors)

    def length(self, task, r, cfg):
        _, _, _, samples, rate, n_text, _ = self.records[r]
        if task == "TTS":                           # text in (the answer's own), its speech out
            frames = -(-resampled_length(samples, rate, cfg.sample_rate) // cfg.samples_per_frame)
            return example_length("TTS", n_answer=n_text, n_frames=frames), 0.0
        seconds = resampled_length(samples, rate, WHISPER_RATE) / WHISPER_RATE
        n_audio = n_features(seconds, window_s=cfg.whisper_window_s)
        return example_length(task, n_audio=n_audio, n_answer=n_text), seconds

    def _key(self, r):
        return item_key(self.spec.kind, self.records[r][1], self.records[r][6])

    def build(self, task, r, tokenizer, cache):
        from omni_lib.batches import Example

        uid, rel, text, *_ = self.records[r]
        meta = {"id": uid, "dataset": self.name}
        if task == "TTS":
            return Example("TTS", answer=tokenizer.encode(text), frames=self._codes(r, cache), meta=meta)
        return Example(task, answer=tokenizer.encode(text), features=self._features(r, cache), meta=meta)

    def _features(self, r, cache):
        return cache.features(self._key(r), lambda: load_audio(self.spec.path / self.records[r][1], WHISPER_RATE))

    def _codes(self, r, cache):
        return cache.codes(self._key(r), lambda: load_audio(self.spec.path / self.records[r][1], 24_000))

    def ensure(self, product, r, cache):
        if not cache.has(product, self._key(r)):
            (self._features if product == "features" else self._codes)(r, cache)


class VoiceAssistantSource(Source):
    """VoiceAssistant-400K parquet rows: question (text and speech), answer (text and SNAC codes).

    A record is ``[id, file number, row, question samples, rate, question tokens, answer tokens,
    answer frames, file size]``; the texts and codes are in the row cache (module docstring).
    """

    @staticmethod
    def _walk(spec, tokenizer, bar, row_cache=None) -> dict:
        from .voice_assistant import VoiceAssistant400K, parse_snac

        corpus = VoiceAssistant400K(spec.path, split_names=spec.split_names, limit=spec.limit)
        base = spec.path if spec.path.is_dir() else spec.path.parent
        files = [f.relative_to(base).as_posix() for f in corpus.files]
        number = {f.name: i for i, f in enumerate(corpus.files)}
        if len(number) != len(files):
            raise ValueError(f"{spec.path}: two parquet files share a name; keep one folder of shards")
        sizes = [f.stat().st_size if f.is_file() else 0 for f in corpus.files]
        records, errors = [], []

        def add(ex):
            answer = (ex.extra.get("answer") or "").strip()
            if not answer:
                return "no answer text"
            try:
                frames = parse_snac(ex.extra.get("answer_snac") or "")
            except ValueError as e:
                return f"answer_snac: {e}"
            if frames.shape[1] == 0 or frames.min() < 0 or frames.max() >= 4096:
                return "answer_snac has no frames, or codes outside 0..4095"
            name, row = ex.extra["source"].rsplit(":", 1)
            f, row = number[name], int(row)
            key = item_key("voice_assistant", files[f], sizes[f], row)
            if row_cache is not None and not _file(row_cache, key).is_file():
                save_atomic({"question": ex.text, "answer": answer, "frames": torch.from_numpy(frames).short()},
                            _file(row_cache, key))
            records.append([ex.id, f, row, ex.num_samples, ex.sample_rate, len(tokenizer.encode(ex.text)),
                            len(tokenizer.encode(answer)), int(frames.shape[1]), sizes[f]])

        skipped = _walk_loop(corpus, bar, records, errors, add)
        mine = len(errors) - len(corpus.errors)       # rows the loader kept but whose answer is unusable
        return _finish(records, skipped + mine, errors, files=files)

    def length(self, task, r, cfg):
        _, _, _, samples, rate, n_q, n_a, frames, _ = self.records[r]
        seconds = resampled_length(samples, rate, WHISPER_RATE) / WHISPER_RATE
        n_audio = n_features(seconds, window_s=cfg.whisper_window_s) if task in ("A1T2", "A1A2") else 0
        return (example_length(task, n_audio=n_audio, n_question=n_q, n_answer=n_a, n_frames=frames),
                seconds if n_audio else 0.0)

    def _path(self, r) -> Path:
        base = self.spec.path if self.spec.path.is_dir() else self.spec.path.parent
        return base / self.extra["files"][self.records[r][1]]

    def _key(self, r):
        _, f, row, *_, size = self.records[r]
        return item_key("voice_assistant", self.extra["files"][f], size, row)

    def build(self, task, r, tokenizer, cache):
        from omni_lib.batches import Example

        row = self._row(r)
        meta = {"id": self.records[r][0], "dataset": self.name}
        q, a = tokenizer.encode(row["question"]), tokenizer.encode(row["answer"])
        frames = row["frames"].long() if task in ("A1A2", "T1A2") else None
        if task in ("A1T2", "A1A2"):
            return Example(task, answer=a, frames=frames, features=self._features(r, cache), meta=meta)
        return Example(task, question=q, answer=a, frames=frames, meta=meta)

    def _row(self, r) -> dict:
        """Texts and codes of row ``r``: from the row cache, else (cache deleted) from the parquet file."""
        if self.row_cache is not None:
            path = _file(self.row_cache, self._key(r))
            if path.is_file():
                try:
                    return torch.load(path, weights_only=True)
                except Exception:                     # cut short by a crash: read the parquet row again
                    path.unlink(missing_ok=True)
        from .voice_assistant import parse_snac

        rec = self._record(r)
        return {"question": rec["question"], "answer": rec["answer"],
                "frames": torch.from_numpy(parse_snac(rec["answer_snac"]))}

    def _features(self, r, cache):
        return cache.features(self._key(r), lambda: self._question_audio(r))

    def ensure(self, product, r, cache):
        if product == "features" and not cache.has(product, self._key(r)):
            self._features(r, cache)

    def _question_audio(self, r) -> torch.Tensor:
        from .voice_assistant import VoiceAssistant400K

        path, row = self._path(r), self.records[r][2]
        loader = VoiceAssistant400K(path)               # its row decoder: same checks as the index pass
        ex = loader._example(path, row, self._record(r))
        if ex is None:
            raise ValueError(f"{path.name}:{row}: {loader.errors[-1] if loader.errors else 'unreadable row'}")
        return ex.load(WHISPER_RATE)

    def _record(self, r) -> dict:
        path, row = self._path(r), self.records[r][2]
        group, first = _row_group(str(path), row)
        return _read_group(str(path), group)[row - first]


@functools.lru_cache(maxsize=64)
def _group_starts(path: str) -> list[int]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    starts = [0]
    for g in range(meta.num_row_groups):
        starts.append(starts[-1] + meta.row_group(g).num_rows)
    return starts


def _row_group(path: str, row: int) -> tuple[int, int]:
    import bisect

    starts = _group_starts(path)
    g = bisect.bisect_right(starts, row) - 1
    if not 0 <= g < len(starts) - 1:
        raise IndexError(f"{path} has {starts[-1]} rows, not row {row}: was the file replaced?")
    return g, starts[g]


@functools.lru_cache(maxsize=2)       # items are read in file order by `prepare`: one group at a time
def _read_group(path: str, group: int) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read_row_group(group).to_pylist()
