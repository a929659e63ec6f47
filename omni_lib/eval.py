"""The paper's ASR table (spec §9), reproduced: WER on LibriSpeech for Mini-Omni models and Whisper.

On a GPU, with the released checkpoint (the four splits download from OpenSLR, 1.3 GB)::

    huggingface-cli download gpt-omni/mini-omni --local-dir checkpoint
    python -m omni_lib.eval asr --ckpt checkpoint --data-root data/LibriSpeech --download --batch-size 32
    python -m omni_lib.eval asr --whisper small --data-root data/LibriSpeech     # the paper's baseline row

Offline, on the course corpus (LibriSpeech layout, synthetic voices) with the tiny course model::

    python -m omni_lib.eval asr --ckpt build/tiny/stage3/model --data-root data/course \\
        --splits test-voices test-items --out build/eval
    python -m omni_lib.eval asr --whisper base --data-root data/course --splits test-voices test-items --out build/eval
    python -m omni_lib.eval bench            # batched decoding against one utterance at a time

``--ckpt`` takes a released Mini-Omni directory (``lit_model.pth``) or one of ours
(``save_pretrained``: ``model.safetensors`` + ``text_tokenizer.json``). Mini-Omni models decode
the ASR task layout (spec §2), greedy, in batches of ``--batch-size`` utterances of similar
length; features come from the model's own Whisper with the window it was trained with.

Written to ``OUT/<run>/``: ``<split>.jsonl``, one line per utterance as it is decoded (``id``,
``duration``, ``reference``, ``hypothesis``, both normalised, ``seconds`` of processing); a rerun
**resumes**: only ids missing from the file are decoded. ``summary.json`` and ``OUT/table.md``:
corpus WER after Whisper's ``EnglishTextNormalizer`` (orthographic and basic WER beside it, see
:mod:`omni_lib.wer`), every run in ``OUT`` beside the paper's Table 2 rows, and RTFx = seconds
of audio / seconds of processing (features + decoding; reading files not counted).

Bad input is skipped, reported and counted in the summary, never fatal mid-run: a missing split
folder, a chapter without ``trans.txt``, a file the transcript does not list, an empty
transcript line, an unreadable FLAC (see :class:`omni_lib.data.LibriSpeech`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from omni_lib import DATA_DIR
from omni_lib.cli import (CommandError, UsageError, add_debug, at_least, command, existing_path, read_json,
                          writable_dir)
from omni_lib.wer import PAPER_TABLE, SPLITS, markdown_table, normalise, score, word_errors  # noqa: F401

OPENSLR = ("https://www.openslr.org/resources/12", "https://us.openslr.org/resources/12")
RATE = 16_000                     # LibriSpeech and Whisper
# Decoding bound of a Mini-Omni transcript: read speech is ~3 words (~4 Qwen2 tokens) a second.
TOKENS_PER_SECOND, EXTRA_TOKENS = 10, 12


# ---------------------------------------------------------------------------------- recognisers
class OmniASR:
    """A Mini-Omni model as a recogniser: the ASR layout, batched, greedy (spec §2, §7)."""
    window_s: float

    def __init__(self, model, tokenizer, name: str, identity: dict):
        self.model, self.tokenizer, self.name, self.identity = model, tokenizer, name, identity
        self.window_s = model.cfg.whisper_window_s
        self.tokens_per_second, self.extra_tokens = TOKENS_PER_SECOND, EXTRA_TOKENS
        self.feature_seconds = 0.0      # Whisper's share of the time (the rest is decoding), for the bench

    @torch.inference_mode()
    def transcribe(self, waves: list[torch.Tensor]) -> list[str]:
        from omni_lib.decode import Request, generate_batch

        t0 = time.perf_counter()
        feats, lengths = self.model.audio_features(waves, RATE)              # (B, L, D), (B,)
        self.feature_seconds += time.perf_counter() - t0
        # features are cached by content; an evaluation never meets a clip twice
        self.model.whisper.clear_cache()
        reqs = [Request("ASR", feats[b, : int(n)]) for b, n in enumerate(lengths)]
        longest = int(lengths.max()) + 3                                       # input_a ... eot, asr
        seconds = max(len(w) for w in waves) / RATE
        steps = min(math.ceil(self.tokens_per_second * seconds) + self.extra_tokens,
                    self.model.cfg.block_size - longest)
        n_text = self.tokenizer.n_text
        return [self.tokenizer.decode([t for t in g.text_ids if t < n_text])
                for g in generate_batch(self.model, reqs, max_new_steps=steps)]


class WhisperASR:
    """An openai-whisper model: 30 s log-mel windows, batched, greedy, English, no timestamps."""
    window_s = 30.0

    def __init__(self, model, name: str, identity: dict, *, max_tokens: int | None = None):
        self.model, self.name, self.identity = model, name, identity
        self.max_tokens = max_tokens        # Whisper's own limit (224) when None; short answers need far fewer

    @torch.inference_mode()
    def transcribe(self, waves: list[torch.Tensor]) -> list[str]:
        import whisper

        device = next(self.model.parameters()).device
        mel = torch.stack([whisper.log_mel_spectrogram(whisper.pad_or_trim(w), n_mels=self.model.dims.n_mels)
                           for w in waves]).to(device)                        # (B, n_mels, 3000)
        opts = whisper.DecodingOptions(language="en", without_timestamps=True, fp16=device.type == "cuda",
                                       **({"sample_len": self.max_tokens} if self.max_tokens else {}))
        return [r.text.strip() for r in whisper.decode(self.model, mel, opts)]


def _file_id(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def load_recognizer(ckpt: str | None = None, whisper: str | None = None, device: str = "cpu",
                    name: str | None = None):
    """:class:`OmniASR` for ``ckpt`` (ours or the release, detected) or :class:`WhisperASR` for ``whisper``."""
    if (ckpt is None) == (whisper is None):
        raise SystemExit("give exactly one of --ckpt DIR (a Mini-Omni model) or --whisper NAME_OR_PATH")
    if whisper is not None:
        from omni_lib.whisper_weights import load_whisper

        model = load_whisper(whisper, device=device).eval()
        p = Path(whisper)
        ident = {"whisper": _file_id(p) if p.is_file() else str(whisper), "decode": "greedy, en, 30 s"}
        return WhisperASR(model, name or f"whisper-{p.stem if p.is_file() else whisper}", ident)
    from omni_lib.model import OmniModel
    from omni_lib.text import TextTokenizer

    d = Path(ckpt).expanduser()
    if (d / "lit_model.pth").is_file():                                       # the release (LitGPT)
        model = OmniModel.from_mini_omni(d)
        tokenizer = TextTokenizer.for_config(model.cfg, source=d)
        default, weights = "mini-omni", d / "lit_model.pth"
    elif (d / "model.safetensors").is_file():                                 # ours
        if not (d / "text_tokenizer.json").is_file():
            raise FileNotFoundError(f"{d} has no text_tokenizer.json: save it beside the model "
                                    f"(tokenizer.save(dir / 'text_tokenizer.json'), as omni_lib.train does)")
        model = OmniModel.from_pretrained(d, whisper=True)
        tokenizer = TextTokenizer.load(d / "text_tokenizer.json", model.cfg)
        default, weights = f"{model.cfg.name}-{d.parent.name if d.name == 'model' else d.name}", d / "model.safetensors"
    else:
        raise FileNotFoundError(f"{d} is not a model directory: expected lit_model.pth (the released Mini-Omni: "
                                f"huggingface-cli download gpt-omni/mini-omni --local-dir {d}) or model.safetensors "
                                f"(ours: OmniModel.save_pretrained)")
    model.to(device).eval()
    model.whisper.to(device)             # kept outside the module tree (fp32 whatever the model's dtype)
    ident = {"weights": _file_id(weights), "decode": f"greedy, ASR layout, {TOKENS_PER_SECOND}/s+{EXTRA_TOKENS}"}
    return OmniASR(model, tokenizer, name or default, ident)


# ---------------------------------------------------------------------------------- data
def read_split(data_root: Path, split: str, max_samples: int | None) -> tuple[list, list[str]]:
    """The split's utterances and what was skipped (messages); a missing folder is one message.

    ``max_samples`` keeps that many, evenly spaced over the split (ids sort by speaker, so the
    first N would often be one voice): ``6`` of 57 keeps utterances 0, 10, 19, 28, 38, 48.
    """
    from omni_lib.data.corpus import CorpusWarning
    from omni_lib.data.librispeech import LibriSpeech

    try:
        corpus = LibriSpeech(data_root, split=split)
    except (FileNotFoundError, ValueError) as e:
        return [], [f"split {split}: {e} (or pass --download)"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorpusWarning)            # counted and reported below instead
        examples = list(corpus)                                   # headers only: fast
    problems = list(corpus.errors)
    if not examples and not problems:
        problems.append(f"split {split}: no utterances under {corpus.root}")
    if max_samples is not None and max_samples < len(examples):
        examples = [examples[round(i * len(examples) / max_samples)] for i in range(max(0, max_samples))]
    return examples, problems


def download_librispeech(data_root: str | Path, splits, *, mirrors=OPENSLR) -> None:
    """Fetch and unpack LibriSpeech ``splits`` (OpenSLR SLR12) into ``data_root/<split>``."""
    import tarfile
    import urllib.error
    import urllib.request

    from tqdm.auto import tqdm

    root = Path(data_root)
    for split in splits:
        if (root / split).is_dir():
            continue
        root.mkdir(parents=True, exist_ok=True)
        part, errors = root / f".{split}.tar.gz.part", []
        for base in mirrors:
            url = f"{base}/{split}.tar.gz"
            try:
                with urllib.request.urlopen(url, timeout=20) as r, open(part, "wb") as f:
                    with tqdm(total=int(r.headers.get("Content-Length") or 0) or None, unit="B",
                              unit_scale=True, desc=f"{split}.tar.gz") as bar:
                        while chunk := r.read(1 << 20):
                            f.write(chunk)
                            bar.update(len(chunk))
                break
            except (urllib.error.URLError, OSError) as e:
                errors.append(f"{url}: {e}")
        else:
            part.unlink(missing_ok=True)
            raise SystemExit(f"could not download LibriSpeech {split} ({'; '.join(errors)}). Without internet, "
                             f"fetch {split}.tar.gz from https://www.openslr.org/12 elsewhere and unpack it: "
                             f"tar xzf {split}.tar.gz, then move LibriSpeech/{split} to {root / split}")
        tmp = root / f".{split}.unpack"
        with tarfile.open(part) as tar:
            tar.extractall(tmp, filter="data")
        found = next(tmp.glob(f"**/{split}"), None)
        if found is None:
            raise SystemExit(f"{part} holds no {split} folder: the download is damaged; delete it and retry")
        found.rename(root / split)
        shutil.rmtree(tmp)
        part.unlink()


# ---------------------------------------------------------------------------------- results files
def read_jsonl(path: Path) -> dict[str, dict]:
    """Decoded utterances by id. A line cut short (a run killed mid-write) is dropped, with a
    warning, and the file rewritten without it; its utterance is simply decoded again."""
    if not path.is_file():
        return {}
    good, bad, repeated = {}, 0, 0
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines:
        try:
            rec = json.loads(line)
            repeated += rec["id"] in good
            good[rec["id"]] = rec
        except (json.JSONDecodeError, KeyError, TypeError):
            bad += bool(line.strip())
    if repeated:                        # e.g. written by an older version without the run lock: one line per id
        warnings.warn(f"{path}: {repeated} id(s) appeared twice; kept the last line of each")
    if bad or repeated or (lines and not path.read_bytes().endswith(b"\n")):
        if bad:
            warnings.warn(f"{path}: dropped {bad} damaged line(s) (an interrupted run); they are decoded again")
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in good.values()), encoding="utf-8")
        tmp.replace(path)
    return good


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold ``run_dir/.lock`` while a run writes there: a second eval into the same folder is refused
    (its lines would interleave with ours and repeat ids). The lock is the operating system's
    (``flock``), so a killed run leaves no stale lock behind."""
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / ".lock"
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise CommandError(f"{run_dir} is in use by another evaluation ({holder}); wait for it to finish, "
                               f"or pass another --out or --name") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_run_dir(run_dir: Path, identity: dict) -> None:
    """Resume only results of this very model: others are moved aside (kept), not mixed in."""
    meta = run_dir / "run.json"
    if meta.is_file() and read_json(meta, fix="Delete it: the results beside it are then resumed as this run's") != identity:
        stale = run_dir / f"stale-{time.strftime('%Y%m%d-%H%M%S')}"
        stale.mkdir()
        for f in list(run_dir.glob("*.jsonl")) + [meta]:
            f.rename(stale / f.name)
        warnings.warn(f"{run_dir} held results of another model or decoding; moved them to {stale} and "
                      f"starting over")
    run_dir.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps(identity, indent=1))


@dataclass
class SplitResult:
    problems: list[str] = field(default_factory=list)
    decoded_now: int = 0


def decode_split(rec, examples, jsonl: Path, *, split: str, batch_size: int, progress: bool) -> SplitResult:
    """Decode the examples missing from ``jsonl``, longest first, appending a line per utterance."""
    from tqdm.auto import tqdm

    res = SplitResult()
    done = read_jsonl(jsonl)
    todo = sorted((e for e in examples if e.id not in done), key=lambda e: -(e.seconds or 0))
    bar = tqdm(total=len(todo), desc=f"{rec.name} {split}", unit="utt", disable=not progress)
    for i in range(0, len(todo), batch_size):
        batch, waves = [], []
        for ex in todo[i:i + batch_size]:
            try:
                waves.append(ex.load(RATE))
                batch.append(ex)
            except Exception as e:                 # a FLAC whose header reads but whose samples do not
                res.problems.append(f"{ex.path}: unreadable audio ({type(e).__name__}: {e})")
        if batch:
            with warnings.catch_warnings():        # longer than the window: counted in the summary instead
                warnings.filterwarnings("ignore", message="clip .* is .* long")
                t0 = time.perf_counter()
                hyps = rec.transcribe(waves)
                share = (time.perf_counter() - t0) / len(batch)
            with open(jsonl, "a", encoding="utf-8") as f:
                for ex, w, hyp in zip(batch, waves, hyps):
                    f.write(json.dumps({"id": ex.id, "duration": round(len(w) / RATE, 3), "reference": ex.text,
                                        "hypothesis": hyp, "reference_normalised": normalise(ex.text),
                                        "hypothesis_normalised": normalise(hyp), "seconds": round(share, 4)}) + "\n")
            res.decoded_now += len(batch)
        bar.update(len(todo[i:i + batch_size]))
    bar.close()
    return res


# ---------------------------------------------------------------------------------- entry points
def run_asr(rec, data_root: str | Path, splits, out: str | Path, *, batch_size: int = 16,
            max_samples: int | None = None, progress: bool = True, device: str = "cpu") -> dict:
    """Evaluate recogniser ``rec`` on ``splits``; the summary dict that :func:`main` returns."""
    data_root, out = Path(data_root), Path(out)
    with run_lock(out / rec.name):
        return _run_asr(rec, data_root, splits, out, batch_size=batch_size, max_samples=max_samples,
                        progress=progress, device=device)


def _run_asr(rec, data_root: Path, splits, out: Path, *, batch_size, max_samples, progress, device) -> dict:
    run_dir = out / rec.name
    _check_run_dir(run_dir, rec.identity)
    summary = {"run": rec.name, "data_root": str(data_root), "device": device, "batch_size": batch_size,
               "normaliser": "whisper EnglishTextNormalizer", "splits": {}, "problems": []}
    all_records = []
    for split in splits:
        examples, problems = read_split(data_root, split, max_samples)
        jsonl = run_dir / f"{split}.jsonl"
        res = decode_split(rec, examples, jsonl, split=split, batch_size=batch_size, progress=progress) \
            if examples else SplitResult()
        problems += res.problems
        done = read_jsonl(jsonl)
        records = [done[e.id] for e in examples if e.id in done]
        all_records += records
        s = {"skipped": len(problems), "decoded_now": res.decoded_now, "resumed": len(records) - res.decoded_now}
        if records:
            s.update(score(records, rec.window_s))
        summary["splits"][split] = s
        summary["problems"] += problems
        for p in problems:
            print(f"skipped: {p}", file=sys.stderr)
    if not all_records:
        raise SystemExit(f"nothing to evaluate under {data_root} for {', '.join(splits)}:\n  " +
                         "\n  ".join(summary["problems"]))
    total = score(all_records, rec.window_s)
    summary.update(wer=total["wer"], wer_orthographic=total["wer_orthographic"], rtfx=total["rtfx"],
                   skipped=len(summary["problems"]))
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    runs = [read_json(p, fix="Delete it, or run that evaluation again to rewrite it") for p in sorted(out.glob("*/summary.json"))]
    summary["table"] = markdown_table(runs)
    (out / "table.md").write_text(summary["table"])
    (run_dir / "table.md").write_text(markdown_table([summary]))
    return summary


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", help="a Mini-Omni model directory: the release (lit_model.pth) or ours (model.safetensors)")
    p.add_argument("--whisper", help="an openai-whisper baseline: a name (base, small, ...) or checkpoint path")
    p.add_argument("--batch-size", type=at_least(1), default=16)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=at_least(1), default=None,
                   help="CPU threads for torch (default: torch's choice); on a shared machine 1 is often faster")
    add_debug(p)


def check_model_args(args, *, need_one: bool = True) -> None:
    """Before anything loads: one model (``--ckpt`` or ``--whisper``), that exists, on a device that exists."""
    from omni_lib.whisper_weights import is_whisper_source

    if need_one and (args.ckpt is None) == (args.whisper is None):
        raise UsageError("give exactly one of --ckpt DIR (a Mini-Omni model) or --whisper NAME_OR_PATH")
    if args.ckpt is not None and args.whisper is not None:
        raise UsageError("--ckpt and --whisper: give one model")
    if args.ckpt is not None:
        existing_path(args.ckpt, "--ckpt", kind="dir", hint="a model folder (lit_model.pth or model.safetensors)")
    if args.whisper is not None and not is_whisper_source(args.whisper):
        raise UsageError(f"--whisper {args.whisper}: not a Whisper model name (tiny, base, small, medium, large-v3, "
                         f"turbo, ... and *.en) nor an existing checkpoint file or folder")
    try:
        device = torch.device(args.device)
    except RuntimeError as e:
        raise UsageError(f"--device {args.device}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: no CUDA GPU here; use --device cpu")


@command("python -m omni_lib.eval")
def main(argv: list[str] | None = None) -> dict:
    """``python -m omni_lib.eval asr ...`` (or ``bench ...``); returns the summary as a dict."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        return bench_main(argv[1:])
    if argv[:1] == ["ear"]:
        return ear_main(argv[1:])
    if argv[:1] == ["fast"]:
        return fast_main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m omni_lib.eval", description=__doc__.splitlines()[0])
    add_debug(p)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("asr", help="WER on LibriSpeech-layout splits, resumable, with the paper's table")
    sub.add_parser("bench", help="batched decoding against one utterance at a time (see bench --help)")
    sub.add_parser("ear", help="a course model's speech scored by ear (Whisper) on the course corpus (see ear --help)")
    sub.add_parser("fast", help="how often --precision fast answers as fp32 does (see fast --help)")
    _add_model_args(a)
    a.add_argument("--data-root", default=str(DATA_DIR / "LibriSpeech"), help="folder holding the split folders")
    a.add_argument("--splits", nargs="+", default=list(SPLITS))
    a.add_argument("--max-samples", type=at_least(1), default=None, help="at most this many utterances per split, evenly spaced over it")
    a.add_argument("--out", default="build/eval", help="results: OUT/<run>/<split>.jsonl, OUT/table.md")
    a.add_argument("--name", default=None, help="the run's name in the table (default: from the model)")
    a.add_argument("--download", action="store_true", help="fetch missing LibriSpeech splits from OpenSLR")
    a.add_argument("--no-progress", action="store_true", help="no progress bars")
    a.add_argument("--quiet", action="store_true", help="no progress bars and no table (notebooks print their own)")
    args = p.parse_args(argv)
    check_model_args(args)
    writable_dir(args.out, "--out")
    if not args.download:
        existing_path(args.data_root, "--data-root", kind="dir", hint="the folder holding the split folders "
                      "(or pass --download for LibriSpeech)")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.download:
        download_librispeech(args.data_root, args.splits)
    rec = load_recognizer(args.ckpt, args.whisper, args.device, args.name)
    summary = run_asr(rec, args.data_root, args.splits, args.out, batch_size=args.batch_size,
                      max_samples=args.max_samples, progress=not (args.no_progress or args.quiet),
                      device=args.device)
    if not args.quiet:
        print(summary["table"])
        print(f"results in {Path(args.out) / rec.name}; table in {Path(args.out) / 'table.md'}")
    return summary


# ---------------------------------------------------------------------------------- by ear
def ear_main(argv: list[str] | None = None) -> dict:
    """``python -m omni_lib.eval ear --ckpt build/tiny/stage3/model``: the model answers the course's
    held-out questions out loud, its codec decodes the speech, Whisper transcribes it
    (:mod:`omni_lib.by_ear`). Writes ``OUT/by_ear.json`` and a few answers as ``OUT/*.wav``."""
    import soundfile as sf

    from omni_lib.by_ear import score_by_ear
    from omni_lib.chat import load_for_chat
    from omni_lib.codec import speaking_codec
    from omni_lib.prepare import prepare_course

    p = argparse.ArgumentParser(prog="python -m omni_lib.eval ear", description=ear_main.__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True, help="a course model directory (model.safetensors, codec.pt)")
    p.add_argument("--whisper", default="base", help="the listener: an openai-whisper name or checkpoint (default base)")
    p.add_argument("--data-root", default=str(DATA_DIR / "course"), help="the course corpus")
    p.add_argument("--out", default="build/eval-ear", help="results: OUT/by_ear.json and sample answers OUT/*.wav")
    add_debug(p)
    args = p.parse_args(argv)
    if not Path(args.data_root, "assistant.jsonl").is_file():
        p.error(f"--data-root {args.data_root}: no assistant.jsonl there (the course corpus is data/course)")
    existing_path(args.ckpt, "--ckpt", kind="dir", hint="a course model folder (model.safetensors, codec.pt)")
    from omni_lib.whisper_weights import is_whisper_source

    if not is_whisper_source(args.whisper):
        raise UsageError(f"--whisper {args.whisper}: not a Whisper model name (tiny, base, small, ...) nor an "
                         f"existing checkpoint")
    writable_dir(args.out, "--out")
    model, tok = load_for_chat(args.ckpt)
    codec = speaking_codec(model.cfg, args.ckpt)
    data = prepare_course(model.cfg, tok, root=args.data_root)
    report = score_by_ear(model, data, codec, whisper=args.whisper, data_root=args.data_root, progress=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, waves in report.pop("audio").items():
        for i, w in enumerate(waves):
            sf.write(out / f"{name}-{i}.wav", w.numpy(), model.cfg.sample_rate)
    (out / "by_ear.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))
    for name, rows in report["samples"].items():
        for i, (ref, text, heard) in enumerate(rows):
            print(f"{name}[{i}] reference: {ref!r} | wrote: {text!r} | said (Whisper heard): {heard!r}")
    print(f"results in {out / 'by_ear.json'}")
    return report


def fast_main(argv: list[str] | None = None) -> dict:
    """``python -m omni_lib.eval fast --ckpt DIR``: the fast path (:mod:`omni_lib.precision`) against
    fp32 on the course corpus's held-out voices, spoken and written: how often the answers agree."""
    from omni_lib.precision import fast_agreement

    p = argparse.ArgumentParser(prog="python -m omni_lib.eval fast", description=fast_main.__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True, help="a model directory: the release (lit_model.pth) or ours")
    p.add_argument("--data-root", default=str(DATA_DIR / "course"), help="the course corpus (its questions' audio)")
    p.add_argument("--n", type=at_least(1), default=24, help="questions, evenly spaced (default 24)")
    p.add_argument("--max-steps", type=at_least(8), default=96, help="steps per answer at most (default 96)")
    add_debug(p)
    args = p.parse_args(argv)
    if not Path(args.data_root, "assistant.jsonl").is_file():
        p.error(f"--data-root {args.data_root}: no assistant.jsonl there (the course corpus is data/course)")
    if args.ckpt != "gpt-omni/mini-omni":
        existing_path(args.ckpt, "--ckpt", kind="dir", hint="a model folder, or gpt-omni/mini-omni for the release")
    report = fast_agreement(args.ckpt, args.data_root, n=args.n, max_new_steps=args.max_steps, progress=True)
    print(json.dumps(report, indent=2))
    return report


# ---------------------------------------------------------------------------------- throughput
def bench_main(argv: list[str] | None = None) -> dict:
    """Batched ASR decoding against one utterance at a time: same model, same utterances, one run.

        python -m omni_lib.eval bench [--ckpt DIR | --whisper NAME] [--n 16] [--batch-size 16] [--json]

    Default model: the trained course model if ``build/tiny`` has it, else the ``tiny`` preset
    with random weights (its transcripts are junk, but it costs the same). Each pass is timed end
    to end (Whisper features + decoding), after a warm-up, with the feature cache emptied, and the
    two passes alternate for ``--rounds`` rounds (medians reported) so a busy machine slows both.
    """
    p = argparse.ArgumentParser(prog="python -m omni_lib.eval bench", description=bench_main.__doc__.splitlines()[0])
    _add_model_args(p)
    p.add_argument("--data-root", default=str(DATA_DIR / "course"))
    p.add_argument("--split", default="test-voices")
    p.add_argument("--n", type=at_least(1), default=16, help="utterances")
    p.add_argument("--rounds", type=at_least(1), default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    check_model_args(args, need_one=False)
    existing_path(args.data_root, "--data-root", kind="dir")
    if args.threads:
        torch.set_num_threads(args.threads)
    rec = _bench_recognizer(args)
    examples, problems = read_split(Path(args.data_root), args.split, args.n)
    if not examples:
        raise SystemExit("no utterances to time: " + "; ".join(problems))
    waves = [e.load(RATE) for e in examples]
    audio_s = sum(len(w) for w in waves) / RATE
    rec.transcribe(waves[:1])                                       # warm-up: allocations, lazy imports

    def timed(batch_size: int) -> tuple[float, list[str], float | None]:
        if isinstance(rec, OmniASR):
            rec.model.whisper.clear_cache()                       # no feature cache hits across passes
            rec.feature_seconds = 0.0
        order = sorted(range(len(waves)), key=lambda i: -len(waves[i]))   # as the eval batches: longest first
        hyps = [""] * len(waves)
        t0 = time.perf_counter()
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            for j, h in zip(idx, rec.transcribe([waves[j] for j in idx])):
                hyps[j] = h
        return time.perf_counter() - t0, hyps, getattr(rec, "feature_seconds", None)

    single, batched = [], []
    for _ in range(args.rounds):
        single.append(timed(1))
        batched.append(timed(args.batch_size))
    median = lambda runs: sorted(runs, key=lambda r: r[0])[len(runs) // 2]   # noqa: E731
    (t1, _, f1), (tb, _, fb) = median(single), median(batched)
    refs = [normalise(e.text) for e in examples]
    h1, hb = single[0][1], batched[0][1]
    out = {"model": rec.name, "device": args.device, "utterances": len(waves), "audio_seconds": round(audio_s, 2),
           "batch_size": args.batch_size, "single_seconds": round(t1, 3), "batched_seconds": round(tb, 3),
           "speedup": t1 / tb, "rtfx_single": audio_s / t1, "rtfx_batched": audio_s / tb,
           "same_hypotheses": sum(a == b for a, b in zip(h1, hb)) / len(h1),
           "wer_single": word_errors(refs, [normalise(h) for h in h1])["wer"],
           "wer_batched": word_errors(refs, [normalise(h) for h in hb])["wer"], "threads": torch.get_num_threads(),
           "features_single_seconds": f1 and round(f1, 3), "features_batched_seconds": fb and round(fb, 3)}
    split = lambda t, f: "" if f is None else f"   (Whisper {f:5.2f} s, decoding {t - f:5.2f} s)"   # noqa: E731
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"{rec.name} on {len(waves)} utterances of {args.split} ({audio_s:.1f} s of audio), {args.device}, "
              f"{out['threads']} threads\n"
              f"  one at a time : {t1:6.2f} s   RTFx {out['rtfx_single']:6.1f}{split(t1, f1)}\n"
              f"  batches of {args.batch_size:<3}: {tb:6.2f} s   RTFx {out['rtfx_batched']:6.1f}{split(tb, fb)}   "
              f"speed-up {out['speedup']:.2f}x\n"
              f"  same transcripts: {100 * out['same_hypotheses']:.0f} %; WER {100 * out['wer_single']:.1f} % / "
              f"{100 * out['wer_batched']:.1f} %")
    return out


def _bench_recognizer(args):
    if args.ckpt or args.whisper:
        return load_recognizer(args.ckpt, args.whisper, args.device)
    from omni_lib.train import COURSE_DIR

    trained = next(iter(sorted(COURSE_DIR.glob("stage*/model/model.safetensors"), reverse=True)), None)
    if trained is not None:
        return load_recognizer(str(trained.parent), None, args.device)
    from omni_lib.config import OmniConfig
    from omni_lib.encoder import WhisperEncoder
    from omni_lib.model import OmniModel
    from omni_lib.text import TextTokenizer

    print("no trained course model in build/tiny: timing the tiny preset with random weights", file=sys.stderr)
    cfg = OmniConfig.from_preset("tiny")
    torch.manual_seed(0)
    model = OmniModel(cfg).eval().attach_whisper(WhisperEncoder.from_config(cfg))
    return OmniASR(model.to(args.device), TextTokenizer.for_config(cfg), "tiny-random", {})


if __name__ == "__main__":
    main()
