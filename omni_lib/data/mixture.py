"""The training data of ``--preset mini-omni``: a YAML file names the corpora, this makes the pools.

``train_stage`` takes ``pools: {task: sequence of Example}``. At the paper's scale (LibriSpeech,
LibriTTS, VCTK, VoiceAssistant-400K: about a million utterances) the examples cannot all be held
in memory, so each pool here is a :class:`TaskPool`: it has a length and builds item ``i`` when
asked (audio read, Whisper features and SNAC codes from the disk cache or computed then, text
tokenised). The data config (``configs/mini-omni-data.yaml`` is the documented example)::

    cache: build/mini-omni-cache          # indexes, features and codes (relative to this file's folder)
    datasets:
      libritts: {kind: libritts, path: data/LibriTTS, splits: [train-clean-100]}
      va: {kind: voice_assistant, path: data/VoiceAssistant-400K}
    tasks:                                # task -> {dataset: share of the task's examples}
      ASR: {libritts: 1}
      TTS: {libritts: 1}
      A1A2: {va: 1}

Within a task, a dataset's weight is its **share** of the task's examples (normalised over the
task), whatever its size; every item of a dataset stays reachable. How often each task comes up
is the stage's business (``omni_lib.stages``). Skipped, warned about and counted
(:meth:`Mixture.stats`): what the loaders cannot read, VoiceAssistant rows without usable
answer codes, items too long (speech over the Whisper window, or more than ``block_size``
positions), and items that fail when built (a file damaged after indexing): the next item of the
same dataset stands in, the same on every rank.

Commands (``prepare`` computes every feature and code once, so training only reads the cache)::

    python -m omni_lib.data.mixture prepare --config configs/mini-omni-data.yaml --index-only
    torchrun --standalone --nproc_per_node=8 -m omni_lib.data.mixture prepare --config configs/mini-omni-data.yaml
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import yaml

from omni_lib.batches import TRAIN_TASKS, Example
from omni_lib.cli import UsageError, add_debug, command, existing_path, writable_dir
from omni_lib.config import OmniConfig

from .corpus import MAX_WARNINGS, CorpusWarning
from .sources import FILE_KINDS, KINDS, ItemCache, Source

SPEECH_IN = ("ASR", "A1T2", "A1A2")                  # tasks that need Whisper features
TASK_KINDS = {"ASR": FILE_KINDS, "TTS": FILE_KINDS,                   # which kinds of dataset can feed a task
              **{t: ("voice_assistant",) for t in ("A1T2", "A1A2", "T1A2", "T1T2")}}
MAX_FAILURES = 50                                    # failed items in a row before the pool gives up


# ---------------------------------------------------------------------------------- the config
@dataclass
class DatasetSpec:
    kind: str                                # librispeech | libritts | vctk | voice_assistant
    path: Path                               # the corpus folder (or one parquet file)
    splits: list[str] | None = None          # librispeech, libritts: split folders under path (None: path is one)
    lowercase: bool = False                  # lower-case the texts (LibriSpeech's are all capitals)
    mic: str = "mic1"                        # vctk 0.92: which microphone
    split_names: list[str] | None = None     # voice_assistant: keep only these source subsets
    limit: int | None = None                 # only the first N items of each split (for trials)

    def signature(self) -> dict:
        """What the index depends on (its cache key)."""
        return {**dataclasses.asdict(self), "path": str(self.path.resolve())}


KIND_KEYS = {"librispeech": {"splits"}, "libritts": {"splits"}, "vctk": {"mic"}, "voice_assistant": {"split_names"}}
COMMON_KEYS = {"kind", "path", "lowercase", "limit"}


@dataclass
class DataConfig:
    file: Path                               # the YAML file this came from (named in errors)
    cache: Path | None                       # indexes, features, codes; None = compute on every access
    datasets: dict[str, DatasetSpec]
    tasks: dict[str, dict[str, float]]       # task -> {dataset: weight}
    cache_features: bool = True              # False: keep only the indexes, compute features each time
    raw: dict = field(default_factory=dict, repr=False)


def load_data_config(path: str | Path, *, cache: str | Path | None = None) -> DataConfig:
    """Read and check a data config; ``cache`` overrides its ``cache:``. Errors name the key at fault.

    Relative paths are relative to ``root:`` (itself relative to the file's folder; default: the
    file's folder). Every dataset path and split folder must exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data config {path} does not exist (an example: configs/mini-omni-data.yaml)")
    from omni_lib.cli import read_yaml

    raw = read_yaml(path, what="a data config (datasets: and tasks:)",
                    fix="Fix it; configs/mini-omni-data.yaml is a complete example") or {}
    where = str(path)

    def fail(key, why, exc=ValueError):
        raise exc(f"{where}: {key}: {why}")

    if not isinstance(raw, dict):
        fail("(top level)", "expected a mapping with datasets: and tasks:")
    unknown = set(raw) - {"root", "cache", "cache_features", "datasets", "tasks"}
    if unknown:
        fail(sorted(unknown)[0], "unknown key; the keys are root, cache, cache_features, datasets, tasks")
    root = path.parent / str(raw.get("root", "."))
    where_to = lambda p: Path(p).expanduser() if Path(p).expanduser().is_absolute() else root / p  # noqa: E731
    datasets = {}
    for name, d in (raw.get("datasets") or {}).items():
        key = f"datasets.{name}"
        if not re.fullmatch(r"[\w.-]+", str(name)):
            fail(key, "a dataset name is letters, digits, '_', '-' and '.' (it names cache files)")
        if not isinstance(d, dict) or d.get("kind") not in KINDS:
            fail(f"{key}.kind", f"must be one of {', '.join(KINDS)}")
        extra = set(d) - COMMON_KEYS - KIND_KEYS[d["kind"]]
        if extra:
            fail(f"{key}.{sorted(extra)[0]}", f"unknown key for kind {d['kind']}; allowed: "
                                              f"{', '.join(sorted(COMMON_KEYS | KIND_KEYS[d['kind']]))}")
        if "path" not in d:
            fail(f"{key}.path", "missing")
        spec = DatasetSpec(**{**d, "path": where_to(d["path"])})
        if not spec.path.exists():
            fail(f"{key}.path", f"{spec.path} does not exist", FileNotFoundError)
        for split in spec.splits or []:
            if not (spec.path / split).is_dir():
                fail(f"{key}.splits", f"{spec.path / split} does not exist", FileNotFoundError)
        datasets[name] = spec
    tasks = {}
    for task, mix in (raw.get("tasks") or {}).items():
        if task not in TRAIN_TASKS:
            fail(f"tasks.{task}", f"unknown task; the tasks are {', '.join(TRAIN_TASKS)}")
        if not isinstance(mix, dict) or not mix:
            fail(f"tasks.{task}", "expected {dataset: weight, ...}")
        for name, w in mix.items():
            if name not in datasets:
                fail(f"tasks.{task}.{name}", f"no such dataset; defined: {', '.join(datasets) or 'none'}")
            if datasets[name].kind not in TASK_KINDS[task]:
                fail(f"tasks.{task}.{name}", f"a {datasets[name].kind} dataset cannot feed {task} "
                                              f"(it needs {' or '.join(TASK_KINDS[task])})")
            if not isinstance(w, (int, float)) or isinstance(w, bool) or not w > 0:
                fail(f"tasks.{task}.{name}", f"weight must be a number > 0, got {w!r}")
        tasks[task] = {k: float(v) for k, v in mix.items()}
    if not tasks:
        fail("tasks", "no task has data")
    cache = Path(cache) if cache is not None else (where_to(raw["cache"]) if raw.get("cache") else None)
    return DataConfig(path, cache, datasets, tasks, bool(raw.get("cache_features", True)), raw)


def parse_overrides(items: Sequence[str]) -> dict:
    """``["n_layer=2", "whisper_window_s=4"]`` -> ``{"n_layer": 2, "whisper_window_s": 4}`` (YAML values).

        >>> parse_overrides(["block_size=256", "whisper_model=/tmp/w.pt", "qkv_bias=false"])
        {'block_size': 256, 'whisper_model': '/tmp/w.pt', 'qkv_bias': False}
    """
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r}: expected KEY=VALUE, e.g. n_layer=2")
        out[key.strip()] = yaml.safe_load(value)
    return out


# ---------------------------------------------------------------------------------- pools
class LazyExample(Example):
    """An :class:`Example` whose contents are built the first time one is read.

    ``train_stage`` draws the whole global batch on every rank and keeps its own share: built
    lazily, each rank reads audio and runs Whisper for its share only.
    """

    def __init__(self, pool: "TaskPool", position: int):
        self.task, self._pool, self._position, self._example = pool.task, pool, position, None

    def _built(self) -> Example:
        if self._example is None:
            self._example = self._pool.build(self._position)
        return self._example


for _name in ("question", "answer", "frames", "features", "meta"):
    setattr(LazyExample, _name, property(lambda self, _n=_name: getattr(self._built(), _n)))
del _name


class TaskPool(Sequence):
    """The examples of one task, from one or more datasets, built on access.

    Position ``i`` falls in one dataset's segment; segments are sized by the datasets' shares
    and at least as long as the dataset, so every item is reachable::

        sizes 3 and 5, shares 1:1  ->  length 10:  [a0 a0 a1 a1 a2 | b0 b0 b1 b2 b3 ...]

    (``len`` is that virtual length; :attr:`sizes` the real numbers of items.)
    """

    def __init__(self, task: str, parts: list[tuple[Source, np.ndarray, float]], tokenizer, cache: ItemCache):
        self.task, self.tokenizer, self.cache = task, tokenizer, cache
        self.parts = [(s, keep) for s, keep, _ in parts]
        total = sum(w for *_, w in parts)
        shares = [w / total for *_, w in parts]
        sizes = [len(keep) for _, keep, _ in parts]
        if len(parts) == 1:
            lengths = sizes
        else:
            virtual = max(math.ceil(n / s) for n, s in zip(sizes, shares))
            lengths = [max(n, round(virtual * s)) for n, s in zip(sizes, shares)]
        self.sizes = {s.name: n for (s, _), n in zip(self.parts, sizes)}
        self.shares = {s.name: sh for (s, _), sh in zip(self.parts, shares)}
        self.starts = np.cumsum([0] + lengths)
        self.failed, self.errors, self._bad = 0, [], set()

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        i = int(i) + (len(self) if i < 0 else 0)
        if not 0 <= i < len(self):
            raise IndexError(f"{self.task} pool has {len(self)} positions, not {i}")
        return LazyExample(self, i)

    def locate(self, i: int) -> tuple[int, int]:
        """Position -> (part, item of that part)."""
        d = int(np.searchsorted(self.starts, i, side="right")) - 1
        span, n = self.starts[d + 1] - self.starts[d], len(self.parts[d][1])
        return d, int((i - self.starts[d]) * n // span)

    def build(self, i: int) -> Example:
        """The example at position ``i``; an item that fails is counted and the next one stands in."""
        d, j = self.locate(i)
        source, keep = self.parts[d]
        last = None
        for step in range(len(keep)):
            k = (j + step) % len(keep)
            if (d, k) in self._bad:
                continue
            try:
                return source.build(self.task, int(keep[k]), self.tokenizer, self.cache)
            except torch.OutOfMemoryError:
                raise
            except Exception as e:       # a damaged file, a bad row: several exception types
                last = e
                self._bad.add((d, k))
                self.failed += 1
                self.errors.append(f"{source.name} item {int(keep[k])} ({source.records[int(keep[k])][0]}): "
                                   f"{type(e).__name__}: {e}")
                if self.failed <= MAX_WARNINGS:
                    warnings.warn(f"{self.task}: skipped {self.errors[-1]}; the next item stands in",
                                  CorpusWarning, stacklevel=2)
                if step + 1 >= MAX_FAILURES:
                    break
        raise RuntimeError(f"{self.task}: {MAX_FAILURES} items of {source.name} in a row (or all of them) failed "
                           f"to build; the last: {last!r}. Is the dataset or the cache damaged?") from last


@dataclass
class Mixture:
    """The pools of a data config, and what was lost on the way (:meth:`stats`)."""
    pools: dict[str, TaskPool]
    sources: dict[str, Source]
    too_long: dict[str, dict[str, dict[str, int]]]    # task -> dataset -> {"audio": n, "positions": n}
    cache: ItemCache

    def stats(self) -> dict:
        return {"datasets": {n: {"kind": s.spec.kind, "items": len(s), "skipped": s.skipped,
                                 "errors": s.errors[:5]} for n, s in self.sources.items()},
                "tasks": {t: {"positions": len(p), "items": p.sizes, "shares": p.shares,
                              "too_long": self.too_long[t], "failed": p.failed, "errors": p.errors[:5]}
                          for t, p in self.pools.items()}}


def build_mixture(data: DataConfig, cfg: OmniConfig, tokenizer, *, tasks: Sequence[str] | None = None,
                  encoder=None, codec=None, device: str | torch.device = "cpu", load_models: bool = True,
                  progress: bool = True) -> Mixture:
    """Pools for ``tasks`` (default: every task of the config) from ``data``.

    Indexes are read from ``data.cache/index`` or made there. The Whisper encoder
    (``cfg.whisper_model``) and SNAC (``cfg.snac_model``) are loaded if a task needs them and none
    is given; ``load_models=False`` only indexes (the pools then cannot build items).
    """
    wanted = [t for t in (tasks or data.tasks) if t in data.tasks]
    names = sorted({n for t in wanted for n in data.tasks[t]})
    index_dir = (data.cache or Path(os.environ.get("OMNI_CACHE", "~/.cache/omni_lib")).expanduser()) / "index"
    row_cache = data.cache / "va-rows" if data.cache else None
    sources = {n: Source.open(n, data.datasets[n], tokenizer, index_dir, progress=progress, row_cache=row_cache)
               for n in names}
    if load_models and encoder is None and any(t in SPEECH_IN for t in wanted):
        from omni_lib.encoder import WhisperEncoder
        encoder = WhisperEncoder.from_config(cfg).to(device)
    if load_models and codec is None and "TTS" in wanted:
        from omni_lib.codec import Codec
        codec = Codec.load(cfg.snac_model, cfg=cfg)
        codec.model.to(device)
    cache = ItemCache(data.cache if data.cache_features else None, cfg, encoder=encoder, codec=codec)
    pools, too_long = {}, {}
    for task in wanted:
        parts, too_long[task] = [], {}
        for name, weight in data.tasks[task].items():
            source, keep, long = sources[name], [], {"audio": 0, "positions": 0}
            for r in range(len(source)):
                positions, seconds = source.length(task, r, cfg)
                if seconds > cfg.whisper_window_s:
                    long["audio"] += 1
                elif positions > cfg.block_size:
                    long["positions"] += 1
                else:
                    keep.append(r)
            too_long[task][name] = long
            if sum(long.values()):
                warnings.warn(f"{task}/{name}: {sum(long.values())} items too long, skipped ({long['audio']} "
                              f"over the {cfg.whisper_window_s:g} s Whisper window, {long['positions']} over "
                              f"{cfg.block_size} positions)", CorpusWarning, stacklevel=2)
            if keep:
                parts.append((source, np.asarray(keep, dtype=np.int64), weight))
            else:
                warnings.warn(f"{task}/{name}: no usable items", CorpusWarning, stacklevel=2)
        if parts:
            pools[task] = TaskPool(task, parts, tokenizer, cache)
    return Mixture(pools, sources, too_long, cache)


# ---------------------------------------------------------------------------------- prepare
def prepare(mix: Mixture, *, datasets: Sequence[str] | None = None, rank: int = 0, world: int = 1,
            progress: bool = True) -> dict:
    """Compute and cache every feature and code the pools will ask for (of ``datasets``, default
    all); this rank does its slice.

    Each (dataset, item, product) is done once however many tasks share it (A1T2 and A1A2 share
    the question's features). Items fail as in training: counted, never fatal.
    """
    from tqdm.auto import tqdm

    jobs = {}
    for task, pool in mix.pools.items():
        product = "features" if task in SPEECH_IN else "codes" if task == "TTS" else None
        for source, keep in pool.parts if product else []:
            if datasets is not None and source.name not in datasets:
                continue
            jobs.setdefault((source.name, product), set()).update(int(r) for r in keep)
    work = [(name, product, r) for (name, product), rs in sorted(jobs.items()) for r in sorted(rs)]
    lo, hi = len(work) * rank // world, len(work) * (rank + 1) // world     # contiguous: parquet read in order
    failed, errors = 0, []
    for name, product, r in tqdm(work[lo:hi], desc=f"prepare (rank {rank}/{world})" if world > 1 else "prepare",
                                 disable=not progress, dynamic_ncols=True):
        try:
            mix.sources[name].ensure(product, r, mix.cache)
        except torch.OutOfMemoryError:
            raise
        except Exception as e:
            failed += 1
            errors.append(f"{name} item {r} {product}: {type(e).__name__}: {e}")
            if failed <= MAX_WARNINGS:
                warnings.warn(f"prepare: {errors[-1]}", CorpusWarning, stacklevel=2)
    return {"items": hi - lo, "failed": failed, "errors": errors[:20]}


@command("python -m omni_lib.data.mixture")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m omni_lib.data.mixture",
                                 description="Index the corpora of a data config and cache their features and codes.")
    ap.add_argument("command", choices=["prepare"])
    ap.add_argument("--config", required=True, help="the data config (e.g. configs/mini-omni-data.yaml)")
    ap.add_argument("--cache", default=None, help="cache folder (default: the config's cache:)")
    ap.add_argument("--preset", default="mini-omni", help="the model preset training will use")
    ap.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides, exactly as given to omni_lib.train (they pick Whisper, SNAC, window)")
    ap.add_argument("--tasks", nargs="*", default=None, help="only these tasks (default: all in the config)")
    ap.add_argument("--datasets", nargs="*", default=None,
                    help="compute features and codes of these datasets only (the rest fill the cache as training asks)")
    ap.add_argument("--index-only", action="store_true", help="only walk the corpora and write the indexes")
    add_debug(ap)
    args = ap.parse_args(argv)
    from omni_lib.config import PRESETS

    if args.preset not in PRESETS:
        raise UsageError(f"--preset {args.preset!r}: choose one of {', '.join(sorted(PRESETS))}")
    existing_path(args.config, "--config", kind="file", hint="the example is configs/mini-omni-data.yaml")
    unknown = set(args.tasks or ()) - set(TRAIN_TASKS)
    if unknown:
        raise UsageError(f"--tasks {' '.join(sorted(unknown))}: the tasks are {', '.join(TRAIN_TASKS)}")
    try:
        cfg = OmniConfig.from_preset(args.preset, **parse_overrides(args.override))
    except (TypeError, ValueError) as e:
        raise UsageError(f"--override: {e}") from None
    if args.cache is not None:
        writable_dir(args.cache, "--cache")

    from omni_lib.text import TextTokenizer

    data = load_data_config(args.config, cache=args.cache)       # a bad key: one line naming it (@command)
    if data.cache is None:
        raise UsageError(f"{args.config} has no cache: and no --cache was given: nothing to prepare into")
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    tokenizer = TextTokenizer.for_config(cfg)
    mix = build_mixture(data, cfg, tokenizer, tasks=args.tasks, device=device, load_models=not args.index_only,
                        progress=rank == 0)
    report = {"stats": mix.stats()}
    if not args.index_only:
        unknown = set(args.datasets or ()) - set(mix.sources)
        if unknown:
            raise UsageError(f"--datasets {sorted(unknown)}: not among the datasets of these tasks "
                             f"({sorted(mix.sources)})")
        report["prepare"] = prepare(mix, datasets=args.datasets, rank=rank, world=world, progress=rank == 0)
    if rank == 0 or report.get("prepare", {}).get("failed"):
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
