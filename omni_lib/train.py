"""Train one stage of "Any Model Can Talk": one process, or many with torchrun + DDP.

    # laptop CPU, the course corpus (stage 0 = the text LM, then the three speech stages)
    python -m omni_lib.train --preset tiny --stage 0 --out build/tiny
    python -m omni_lib.train --preset tiny --stage 1 --out build/tiny      # starts from stage 0's weights
    python -m omni_lib.train --preset tiny --stage 1 --out build/tiny --resume   # after an interruption

    # the paper's setup on 8×A100 (README "Training at scale (8×A100)": the data, the cache)
    python -m omni_lib.data.mixture prepare --config configs/mini-omni-data.yaml --index-only
    torchrun --standalone --nproc_per_node=8 -m omni_lib.data.mixture prepare --config configs/mini-omni-data.yaml
    torchrun --standalone --nproc_per_node=8 -m omni_lib.train --preset mini-omni --stage 1 \\
        --data-config configs/mini-omni-data.yaml --out runs/mini-omni    # from Qwen/Qwen2-0.5B (--init)
    # then --stage 2 and --stage 3, each from the previous stage's model/
    # several nodes: torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d \\
    #     --rdzv_endpoint=HOST:29400 --rdzv_id=omni -m omni_lib.train ...

Each stage writes ``OUT/stage<S>/``: ``ckpt.pt`` (model, optimizer, scheduler, RNG, step; written
atomically every ``--save-every`` steps), ``metrics.jsonl``, ``loss.png`` and, at the end,
``model/`` (``OmniModel.save_pretrained`` + ``text_tokenizer.json``), which the next stage starts from.
The examples of step k depend only on (seed, stage, k), so a resumed run sees exactly the batches
an uninterrupted one would and ends with the same weights.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import random
import time
import zlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from omni_lib.batches import Example, collate, feed_own_predictions, loss_terms, positions
from omni_lib.cli import (BadFile, UsageError, add_debug, at_least, command, existing_path, read_json, read_torch,
                          writable_dir)
from omni_lib.config import OmniConfig
from omni_lib.stages import STAGES, Stage, apply_stage, get_stage
from omni_lib.tokens import SPEECH_IN_TASKS


# ---------------------------------------------------------------------------------- schedule
def lr_factor(step: int, stage: Stage) -> float:
    """Linear warm-up to 1, then cosine down to ``min_lr / lr`` at the last step."""
    if step < stage.warmup:
        return (step + 1) / stage.warmup
    progress = (step - stage.warmup) / max(1, stage.steps - stage.warmup)
    floor = stage.min_lr / stage.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def step_examples(pools: dict[str, Sequence[Example]], stage: Stage, step: int, seed: int) -> list[Example]:
    """The ``global_batch`` examples of optimizer step ``step``: a pure function of (seed, stage, step)."""
    rng = np.random.default_rng([seed, zlib.crc32(stage.name.encode()), step])   # crc32: stable across processes
    tasks = [t for t in stage.tasks if pools.get(t)]
    if not tasks:
        raise ValueError(f"no training data for any task of stage {stage.name!r}: {list(stage.tasks)}")
    w = np.array([stage.tasks[t] for t in tasks], dtype=float)
    picks = rng.choice(len(tasks), size=stage.global_batch, p=w / w.sum())
    return [pools[tasks[k]][int(rng.integers(len(pools[tasks[k]])))] for k in picks]


# ---------------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a full temporary file, then a rename. A failure leaves the old file intact."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        old = f"; the previous checkpoint {path} is intact" if path.exists() else ""
        raise OSError(f"could not write checkpoint {path} ({e}){old}. Free disk space and resume with --resume") from e


CHECKPOINT_KEYS = ("identity", "step", "model", "optimizer", "scheduler", "rng")


def load_checkpoint(path: Path, device="cpu") -> dict:
    """What :func:`save_checkpoint` wrote, read with ``weights_only=True``: tensors and plain
    containers only, so a swapped file cannot run code. A damaged file is a :class:`BadFile`
    that says what to do."""
    fix = (f"Delete it to train this stage from step 0 (rm {path}), or put back a copy; the other "
           f"files of {path.parent} are kept")
    saved = read_torch(path, map_location=device, fix=fix)
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(saved, dict) or k not in saved]
    if missing:
        raise BadFile(path, f"not a training checkpoint of omni_lib.train (no {', '.join(missing)}). {fix}")
    return saved


def keep_metrics(metrics_file: Path, last_step: int) -> None:
    r"""Keep each step ``<= last_step`` of ``metrics.jsonl`` once (its last record); drop the rest and
    any line cut short by a kill. Rewritten atomically, so a kill now loses nothing.

        >>> import tempfile; f = Path(tempfile.mkdtemp()) / "metrics.jsonl"
        >>> _ = f.write_text('{"step": 1}\n{"step": 2}\n{"step": 1}\n{"step": 3}\n{"ste')
        >>> keep_metrics(f, 2); f.read_text()
        '{"step": 1}\n{"step": 2}\n'
    """
    if not metrics_file.exists():
        return
    rows: dict[int, str] = {}
    for line in metrics_file.read_text().splitlines():
        try:
            step = json.loads(line)["step"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue                                     # the line a kill cut short: that step is redone
        if isinstance(step, int) and step <= last_step:
            rows[step] = line
    tmp = metrics_file.with_name(metrics_file.name + ".tmp")
    tmp.write_text("".join(rows[k] + "\n" for k in sorted(rows)))
    os.replace(tmp, metrics_file)


def _identity(cfg: OmniConfig, stage: Stage, seed: int, data: dict | None = None) -> dict:
    ident = {"config": cfg.to_dict(), "stage": dataclasses.asdict(stage), "seed": seed}
    return {**ident, "data": data} if data else ident


def _course_data_identity(stage: Stage, speeds) -> dict | None:
    """What of the course data a stage's result depends on beyond the corpus: the speed-perturbed
    copies, for the stages that hear speech."""
    return {"speeds": list(speeds)} if speeds and set(stage.tasks) & set(SPEECH_IN_TASKS) else None


def check_resume(saved: dict, now: dict) -> None:
    """Refuse to resume a run whose config, stage or seed changed, naming every difference."""
    diffs = []
    for part in ("config", "stage"):
        a, b = saved[part], now[part]
        diffs += [f"{part}.{k}: checkpoint {a.get(k)!r} vs now {b.get(k)!r}" for k in sorted(set(a) | set(b))
                  if a.get(k) != b.get(k)]
    for key in ("seed", "data"):
        if saved.get(key) != now.get(key):
            diffs.append(f"{key}: checkpoint {saved.get(key)!r} vs now {now.get(key)!r}")
    if diffs:
        raise ValueError("cannot resume: the run's settings changed:\n  " + "\n  ".join(diffs)
                         + "\nresume with the original settings, or start a new run (another --out)")


# ---------------------------------------------------------------------------------- the loop
@dataclasses.dataclass
class Run:
    """Everything one stage needs; ``main`` builds it from the command line, tests build it directly."""
    model: torch.nn.Module
    stage: Stage
    pools: dict[str, Sequence[Example]]
    out: Path
    seed: int = 0
    micro_batch: int = 16                         # examples per forward (16: measured fastest for tiny on 2 cores)
    save_every: int = 100
    log_every: int = 10
    resume: bool = False
    precision: str = "auto"                       # auto | fp32 | bf16 (see _precision)
    stop_after: int | None = None                 # stop (as if killed) after this many steps: for tests
    on_step: Callable[[dict], None] | None = None  # live plots in the notebook
    progress: bool = True
    data: dict | None = None                      # what the pools were made with (e.g. speeds): resume checks it


def train_stage(run: Run) -> dict:
    """Train ``run.model`` through ``run.stage``; returns the last metrics. DDP when torchrun started us."""
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    model, stage = run.model, run.stage
    cfg = model.cfg
    if stage.global_batch % world:
        raise ValueError(f"global batch {stage.global_batch} is not divisible by {world} processes")
    for what, value in (("steps", stage.steps), ("global batch", stage.global_batch), ("micro batch", run.micro_batch)):
        if value < 1:                   # -5 steps would save the untrained model, a micro batch of 0 loop forever
            raise ValueError(f"stage {stage.name!r}: {what} must be at least 1, got {value}")
    device = next(model.parameters()).device
    groups = apply_stage(model, stage)
    opt = torch.optim.AdamW(groups, betas=(0.9, 0.95), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, stage))
    trained = model
    if world > 1:
        # find_unused_parameters: a batch without speech input leaves the adapter without gradients
        trained = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)
    run.out.mkdir(parents=True, exist_ok=True)
    ckpt, metrics_file = run.out / "ckpt.pt", run.out / "metrics.jsonl"
    ident = _identity(cfg, stage, run.seed, run.data)
    if rank == 0:                       # a save killed mid-write leaves a partial file: never read, so removed
        for partial in (ckpt.with_name(ckpt.name + ".tmp"), metrics_file.with_name(metrics_file.name + ".tmp")):
            partial.unlink(missing_ok=True)
    start = 0
    if run.resume and ckpt.exists():
        saved = load_checkpoint(ckpt, device)
        try:
            check_resume(saved["identity"], ident)
        except ValueError as e:
            raise BadFile(ckpt, str(e)) from None
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"]["torch"])
        random.setstate(saved["rng"]["python"])
        start = saved["step"]
        if rank == 0:                   # drop the steps logged after the checkpoint: they are redone
            keep_metrics(metrics_file, start)
    else:
        if run.resume and rank == 0 and run.progress:
            print(f"no checkpoint in {run.out} to resume from: stage {stage.name!r} starts at step 0")
        if rank == 0:                   # from step 0 every step is logged again (a kill before the first save too)
            metrics_file.unlink(missing_ok=True)
    amp, head_dtype = _precision(run.precision, device)
    per_rank = stage.global_batch // world
    model.train()
    bar = _progress(run.progress and rank == 0, start, stage.steps, stage.name)
    last = {}
    for step in range(start, stage.steps):
        t0 = time.perf_counter()
        examples = step_examples(run.pools, stage, step, run.seed)[rank * per_rank:(rank + 1) * per_rank]
        # micro-batches of similar lengths: a T1T2 example (13 positions) padded to an A1A2 one (116)
        # is mostly padding. The loss is a sum over examples, so the order changes nothing but speed.
        examples = sorted(examples, key=positions)
        micro = [examples[i:i + run.micro_batch] for i in range(0, len(examples), run.micro_batch)]
        totals = {"loss": 0.0, "text": 0.0, "audio": 0.0}
        for k, mb in enumerate(micro):
            sync = contextlib.nullcontext() if world == 1 or k == len(micro) - 1 else trained.no_sync()
            with sync, amp:
                batch = collate(mb, cfg)
                if stage.self_feed:             # a pure function of (seed, step, micro-batch): resume stays exact
                    gen = torch.Generator().manual_seed(zlib.crc32(f"{run.seed}/{step}/{k}".encode()))
                    batch = feed_own_predictions(model, batch, stage.self_feed, gen)
                terms = loss_terms(trained if world == 1 else _DDPView(trained), batch, head_dtype=head_dtype)
                # mean over the global batch; DDP averages over ranks, hence the factor `world`
                loss = terms["loss"].sum() * world / stage.global_batch
            loss.backward()
            for key in totals:
                totals[key] += float(terms[key].detach().sum()) / per_rank
        grad_norm = float(torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0))
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        last = {"stage": stage.name, "step": step + 1, "total_steps": stage.steps, **totals, "lr": sched.get_last_lr()[0],
                "grad_norm": grad_norm, "seconds": time.perf_counter() - t0}
        if rank == 0:
            with open(metrics_file, "a") as f:
                f.write(json.dumps(last) + "\n")
            bar.update(1)
            bar.set_postfix(loss=f"{last['loss']:.3f}", lr=f"{last['lr']:.2g}")
            if run.on_step and ((step + 1) % run.log_every == 0 or step + 1 == stage.steps):
                run.on_step(last)
        done = step + 1 == stage.steps
        if rank == 0 and ((step + 1) % run.save_every == 0 or done or step + 1 == run.stop_after):
            save_checkpoint(ckpt, {"identity": ident, "step": step + 1, "model": model.state_dict(),
                                   "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                                   "rng": {"torch": torch.get_rng_state(), "python": random.getstate()}})
        if run.stop_after is not None and step + 1 >= run.stop_after and not done:
            break
    bar.close()
    model.eval()
    if rank == 0 and last.get("step") == stage.steps:
        plot_losses(metrics_file, run.out / "loss.png")
    return last


class _DDPView:
    """Let :func:`loss_terms` call a DDP-wrapped model (forward through DDP, config from the module)."""

    def __init__(self, ddp):
        self._ddp, self.cfg, self.lm_head = ddp, ddp.module.cfg, ddp.module.lm_head

    def __call__(self, *a, **k):
        return self._ddp(*a, **k)

    def parameters(self):
        return self._ddp.module.parameters()


def _precision(precision: str, device: torch.device) -> tuple:
    """(autocast context, head dtype) for ``--precision``.

    ``bf16``: everything under bf16 autocast. ``fp32``: nothing. ``auto``: bf16 autocast on GPUs that
    support it; on CPUs with AMX only the head products in bf16 (an audio batch's costliest part, and
    measured 1.3x faster for a 16-example TTS micro-batch), because CPU bf16 attention backward is
    slower than fp32; elsewhere fp32.
    """
    if precision == "bf16" or (precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()):
        return torch.autocast(device.type, dtype=torch.bfloat16), None
    if precision == "auto" and device.type == "cpu" and getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)():
        return contextlib.nullcontext(), torch.bfloat16
    return contextlib.nullcontext(), None


def _progress(enabled: bool, start: int, total: int, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc=name, disable=not enabled, dynamic_ncols=True)


def plot_losses(metrics_file: Path, out_png: Path) -> None:
    """Loss curves (total, text, audio) of one stage as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(metrics_file).read_text().splitlines()]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for key in ("loss", "text", "audio"):
        ax.plot([r["step"] for r in rows], [r[key] for r in rows], label=key, lw=1)
    ax.set_yscale("log"); ax.set_xlabel("step"); ax.legend(); ax.set_title(rows[-1]["stage"])
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def setup_distributed() -> torch.device:
    """Join the process group torchrun describes (NCCL on GPUs, gloo on CPUs); return this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


# ---------------------------------------------------------------------------------- the course pipeline
def evaluate_course(model, data, stage: int) -> dict:
    """The course's numbers for a model after ``stage`` (see :mod:`omni_lib.probe`), with a few
    (reference, hypothesis) samples for the notebook's before/after comparison."""
    from omni_lib.probe import asr_wer, code_accuracy, qa_accuracy

    tok, ev = data.tokenizer, data.evals
    seen = qa_accuracy(model, ev["t1t2/train"], tok, task="T1T2")
    out = {"text_qa_seen": seen["accuracy"],
           "text_qa_unseen": qa_accuracy(model, ev["t1t2/test-items"], tok, task="T1T2")["accuracy"],
           "samples": {"text_qa": seen["samples"][:3]}}
    if stage >= 1:
        asr = asr_wer(model, ev["asr/test-voices"], tok)
        out["asr_wer_heldout_voices"] = asr["wer"]
        out["asr_wer_heldout_items"] = asr_wer(model, ev["asr/test-items"], tok)["wer"]
        out["samples"]["asr"] = asr["samples"][:3]
        codes = code_accuracy(model, ev["codes/train"])
        out["code_acc_per_layer"], out["code_baseline_per_layer"] = codes["per_layer"], codes["baseline"]
    if stage >= 2:
        spoken = qa_accuracy(model, ev["a1t2/test-voices"], tok)
        out["spoken_qa_seen_heldout_voices"] = spoken["accuracy"]
        out["spoken_qa_unseen"] = qa_accuracy(model, ev["a1t2/test-items"], tok)["accuracy"]
        out["samples"]["spoken_qa"] = spoken["samples"][:3]
    if stage >= 3:                  # the model talks: Whisper listens to its speech (omni_lib.by_ear)
        from omni_lib.by_ear import score_by_ear
        from omni_lib.prepare import course_codec

        ear = score_by_ear(model, data, course_codec(model.cfg))
        ear.pop("audio")
        out["samples"]["by_ear"] = ear.pop("samples")
        out.update(ear)
    return out


def train_course(out: str | Path, *, preset: str = "tiny", stages=(0, 1, 2, 3), resume: bool = True,
                 seed: int = 0, progress: bool = True, on_step=None, steps: dict | None = None,
                 data_root: str | Path | None = None, codec: str | None = None) -> dict:
    """Train the course model through ``stages`` (each from the previous one's weights) and
    evaluate after each; results in ``OUT/summary.json``. A finished stage is reused while its recipe
    (and every earlier stage's) is unchanged; from the first changed one on, stages train again.
    ``codec``: the answers' codec (default the preset's: the course codec for ``tiny``; ``"snac"``
    trains on real SNAC codes, which needs the hub once). It is part of every stage's recipe."""
    from omni_lib.model import OmniModel
    from omni_lib.prepare import prepare_course

    out = Path(out)
    cfg = OmniConfig.from_preset(preset, **({"codec": codec} if codec else {}))
    data = prepare_course(cfg, progress=progress, **({"root": data_root} if data_root else {}))
    summary_file = out / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {"stages": {}}
    summary["data"] = data.stats
    model, retrained = None, False
    for s in stages:
        stage = get_stage(preset, s)
        if steps and s in steps:
            stage = dataclasses.replace(stage, steps=steps[s])
        final, ckpt = out / f"stage{s}" / "model", out / f"stage{s}" / "ckpt.pt"
        done = summary["stages"].get(str(s))
        recipe = _identity(cfg, stage, seed, _course_data_identity(stage, data.stats.get("speeds", ())))
        # a finished stage is reused only if its recipe is unchanged and the stage before it was reused too
        if resume and not retrained and final.exists() and done and done.get("recipe") == json.loads(json.dumps(recipe)):
            model = OmniModel.from_pretrained(final)
            continue
        retrained = True
        if ckpt.exists() and (not resume or load_checkpoint(ckpt)["identity"] != recipe):
            ckpt.unlink()                      # a different recipe's checkpoint: start this stage over
        if model is None:
            prev = out / f"stage{s - 1}" / "model"
            torch.manual_seed(seed)
            model = OmniModel.from_pretrained(prev) if s > 0 and prev.exists() else OmniModel(cfg)
        t0 = time.perf_counter()
        train_stage(Run(model, stage, data.pools, out / f"stage{s}", seed=seed, resume=resume, progress=progress,
                        on_step=on_step, data=recipe.get("data")))
        seconds = time.perf_counter() - t0
        model.save_pretrained(final)
        data.tokenizer.save(final / "text_tokenizer.json")
        save_codec(cfg, final, **({"root": data_root} if data_root else {}))
        summary["stages"][str(s)] = {"name": stage.name, "steps": stage.steps, "train_seconds": round(seconds, 1),
                                     "recipe": recipe, **evaluate_course(model, data, s)}
        out.mkdir(parents=True, exist_ok=True)
        summary_file.write_text(json.dumps(summary, indent=2))
    return summary


def save_codec(cfg: OmniConfig, model_dir: Path, **where) -> None:
    """Keep the course codec beside a model trained on its codes (``codec.pt``), so that the model
    speaks through exactly that codec wherever it goes (SNAC is named by ``cfg.snac_model``)."""
    if cfg.codec == "mel-rvq":
        from omni_lib.prepare import course_codec

        course_codec(cfg, **where).save(Path(model_dir) / "codec.pt")


COURSE_DIR = Path(__file__).resolve().parents[1] / "build" / "tiny"


def course_checkpoint(out: str | Path = COURSE_DIR, *, progress: bool = True, train: bool = True) -> Path | None:
    """The trained ``tiny`` course model's directory, training it first (once) if needed.

    Notebooks 05, 06 and the tour call this: the first call runs the whole pipeline of
    :func:`train_course` (minutes on 2 cores); later calls return at once. With ``train=False`` a
    missing model, or one trained with an older recipe, gives ``None`` instead of training. Load it
    with ``OmniModel.from_pretrained(path)`` and ``TextTokenizer.load(path / "text_tokenizer.json")``.

        >>> path = course_checkpoint(train=False)     # None until notebook 04 (or make course) has run
    """
    from omni_lib.prepare import SPEEDS

    out = Path(out)
    cfg, recipes = OmniConfig.from_preset("tiny"), STAGES["tiny"]
    final = out / f"stage{max(recipes)}" / "model"
    summary = json.loads((out / "summary.json").read_text())["stages"] if (out / "summary.json").exists() else {}
    current = all(summary.get(str(s), {}).get("recipe")
                  == json.loads(json.dumps(_identity(cfg, st, 0, _course_data_identity(st, SPEEDS))))
                  for s, st in recipes.items())
    if final.exists() and current:
        return final
    if not train:                              # missing, or trained with an older recipe
        return None
    train_course(out, preset="tiny", progress=progress)
    return final


# ---------------------------------------------------------------------------------- the paper's scale
DEFAULT_INIT = "Qwen/Qwen2-0.5B"    # the text LM that learns to talk (spec §8)


def train_at_scale(args) -> int:
    """``main`` for every preset but ``tiny``: the corpora of ``--data-config``, built lazily per rank."""
    from omni_lib.data.mixture import build_mixture, load_data_config

    if not hasattr(args, "overrides"):
        check_args(args)                          # called directly, not through main
    s = int(args.stage)
    stage = get_stage(args.preset, s)
    data = load_data_config(args.data_config, cache=args.cache)   # a bad config: one line naming its key (main)
    overrides = args.overrides
    stage = dataclasses.replace(stage, steps=args.steps or stage.steps,
                                global_batch=args.global_batch or stage.global_batch)
    device = setup_distributed()
    rank = int(os.environ.get("RANK", 0))
    out = Path(args.out)
    model, tokenizer = _start_model(args, s, overrides, out)
    if args.grad_checkpointing:
        model.backbone.gradient_checkpointing_enable()
    model.to(device)
    # every rank indexes (or reads the indexes of) the same corpora, so every rank has the same pools
    mix = build_mixture(data, model.cfg, tokenizer, tasks=list(stage.tasks), device=device, progress=rank == 0)
    missing = [t for t in stage.tasks if t not in mix.pools]
    if missing and rank == 0:
        print(f"note: {args.data_config} gives no data for {', '.join(missing)}: stage {s} trains without them")
    stage_dir = out / f"stage{s}"
    last = train_stage(Run(model, stage, mix.pools, stage_dir, seed=args.seed, micro_batch=args.micro_batch or 8,
                           resume=args.resume, precision=args.precision))
    if rank == 0:
        final = stage_dir / "model"
        model.save_pretrained(final)
        tokenizer.save(final / "text_tokenizer.json")
        stats = mix.stats()                       # items that failed are counted on this rank
        (stage_dir / "data.json").write_text(json.dumps(stats, indent=2))
        print(json.dumps({"last": last, "items": {t: v["items"] for t, v in stats["tasks"].items()}}, indent=2))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


def _start_model(args, s: int, overrides: dict, out: Path):
    """(model, tokenizer): stage 1 from a text LM (``--init``, default Qwen2-0.5B), later stages from
    the previous stage's ``model/`` (or ``--init``, a model saved by a stage)."""
    from omni_lib.hub import hub_file
    from omni_lib.model import OmniModel
    from omni_lib.text import TextTokenizer

    init = args.init or (DEFAULT_INIT if s == 1 else str(out / f"stage{s - 1}" / "model"))
    local = Path(init).expanduser()
    if (local / "config.json").is_file() and "omni" in read_json(local / "config.json", fix="Copy the model again"):
        model = OmniModel.from_pretrained(local)          # a stage's output: its config travels with it
        differ = {k: (getattr(model.cfg, k, None), v) for k, v in overrides.items() if getattr(model.cfg, k, None) != v}
        if differ:
            raise UsageError(f"--override {differ} (model, asked) contradicts the config saved in {local}; "
                             f"overrides only shape the model of stage 1")
        saved = local / "text_tokenizer.json"
        tok = TextTokenizer.load(saved, model.cfg) if saved.is_file() else TextTokenizer.for_config(model.cfg)
        return model, tok
    if s > 1:
        raise UsageError(f"--init {init}: no model saved by a stage there. Stage {s} starts from stage {s - 1}'s "
                         f"model: train stage {s - 1} with the same --out first, or pass --init")
    if not local.exists() and init.startswith((".", "/", "~")):
        raise UsageError(f"--init {init}: no such directory (stage 1 starts from a text LM, default {DEFAULT_INIT})")
    cfg = OmniConfig.from_preset(args.preset, **overrides)
    if not local.exists():                                # a hub name: fail fast and clearly when offline (main)
        hub_file(init, "config.json", what=f"the text LM to start from (--init {init})",
                 how="Or pass --init DIR, a local copy of a Qwen2-family model.")
    model = OmniModel.from_text_lm(str(local) if local.exists() else init, cfg, seed=args.seed)
    source = local if (local / "tokenizer.json").is_file() else None
    return model, TextTokenizer.for_config(model.cfg, source=source)


@command("python -m omni_lib.train")
def main(argv: list[str] | None = None) -> int:
    """``python -m omni_lib.train ...`` (see the module docstring); the arguments are checked before
    anything loads, and a wrong one is one line on stderr with exit code 2."""
    ap = argparse.ArgumentParser(prog="python -m omni_lib.train", description="Train one stage (or all) of Any Model Can Talk.")
    ap.add_argument("--preset", default="tiny", help=f"a preset with a training recipe: {', '.join(sorted(STAGES))}")
    ap.add_argument("--stage", default="all", help="0, 1, 2, 3 or 'all' (tiny: the whole course pipeline)")
    ap.add_argument("--out", default="build/tiny")
    ap.add_argument("--steps", type=at_least(1), default=None, help="override the stage's step count")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/stage<S>/ckpt.pt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--micro-batch", type=at_least(1), default=None,
                    help="examples per forward pass, per process (default: 16 for tiny, 8 at scale)")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                    help="auto: bf16 autocast on a GPU; on a CPU with AMX the head products in bf16; else fp32")
    ap.add_argument("--grad-checkpointing", action="store_true", help="recompute activations in backward (less memory)")
    ap.add_argument("--init", default=None, help="start from this model directory (default: the previous stage's; "
                                                 f"mini-omni stage 1: the text LM {DEFAULT_INIT})")
    # --preset mini-omni (any preset but tiny): the corpora come from a data config
    ap.add_argument("--data-config", default=None, help="not tiny: YAML naming the corpora of each task "
                                                        "(see configs/mini-omni-data.yaml)")
    ap.add_argument("--cache", default=None, help="not tiny: features/codes/index cache (default: the data config's cache:)")
    ap.add_argument("--global-batch", type=at_least(1), default=None, help="override the stage's global batch (192)")
    ap.add_argument("--codec", default=None, choices=["mel-rvq", "snac"],
                    help="tiny only: the answers' codec (default mel-rvq, the course codec, works offline; "
                         "snac: real SNAC codes, needs the hub once; use another --out)")
    ap.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE",
                    help="not tiny: OmniConfig fields for stage 1, e.g. whisper_window_s=4 (for smoke tests)")
    add_debug(ap)
    args = ap.parse_args(argv)
    check_args(args)
    return _main(ap, args)


def check_args(args) -> None:
    """Refuse, before anything loads, what the chosen preset and stage cannot do or would ignore.

    Sets ``args.stage`` to an int (or ``"all"``) and ``args.overrides`` to the parsed ``--override``."""
    from omni_lib.data.mixture import parse_overrides

    if args.preset not in STAGES:
        raise UsageError(f"--preset {args.preset!r}: no training recipe; choose one of {', '.join(sorted(STAGES))}")
    stages = sorted(STAGES[args.preset])
    if args.stage != "all":
        try:
            args.stage = int(args.stage)
        except ValueError:
            args.stage = None
        if args.stage not in stages:
            raise UsageError(f"--stage: --preset {args.preset} has stages {', '.join(map(str, stages))}"
                             + (" or 'all'" if args.preset == "tiny" else ""))
    writable_dir(args.out, "--out")
    tiny = args.preset == "tiny"
    if tiny:
        unused = [opt for opt, value in (("--data-config", args.data_config), ("--cache", args.cache),
                                         ("--override", args.override)) if value]
        if unused:
            raise UsageError(f"{' '.join(unused)}: --preset tiny trains on the course corpus with its own fixed "
                             f"shape; {'these options are' if len(unused) > 1 else 'this option is'} for the "
                             f"paper-scale presets (--preset mini-omni)")
        if args.stage == "all":
            unused = [opt for opt, value in (("--steps", args.steps), ("--init", args.init),
                                             ("--micro-batch", args.micro_batch), ("--global-batch", args.global_batch),
                                             ("--grad-checkpointing", args.grad_checkpointing),
                                             ("--precision", args.precision != "auto")) if value]
            if unused:
                raise UsageError(f"{' '.join(unused)}: --stage all runs the course pipeline with each stage's own "
                                 f"recipe; pass --stage 0, 1, 2 or 3 to change one stage")
        elif args.init is not None:
            if args.stage == 0:
                raise UsageError("--init: stage 0 trains the text LM from random weights; --init is for stages 1-3")
            existing_path(args.init, "--init", kind="dir", hint="a model/ folder saved by a stage")
        args.overrides = {}
        return
    if args.codec not in (None, "snac"):
        raise UsageError(f"--codec {args.codec}: --preset {args.preset} speaks through SNAC, as the released model does")
    if args.stage == "all":
        raise UsageError(f"--preset {args.preset}: train one stage at a time: --stage 1, then 2, then 3")
    if not args.data_config:
        raise UsageError(f"--preset {args.preset} needs --data-config FILE naming its corpora "
                         f"(the documented example: configs/mini-omni-data.yaml)")
    existing_path(args.data_config, "--data-config", kind="file", hint="the example is configs/mini-omni-data.yaml")
    if args.cache is not None:
        writable_dir(args.cache, "--cache")
    if args.init is not None and args.init.startswith((".", "/", "~")):
        existing_path(args.init, "--init", kind="dir")
    try:
        args.overrides = parse_overrides(args.override)
        OmniConfig.from_preset(args.preset, **args.overrides)       # unknown keys and impossible values
    except (TypeError, ValueError) as e:
        raise UsageError(f"--override: {e}") from None


def _main(ap: argparse.ArgumentParser, args) -> int:
    if args.preset != "tiny":
        return train_at_scale(args)
    if args.stage == "all":
        summary = train_course(args.out, preset=args.preset, resume=True, seed=args.seed, codec=args.codec)
        print(json.dumps(summary["stages"], indent=2))
        return 0

    from omni_lib.model import OmniModel
    from omni_lib.prepare import prepare_course

    s = int(args.stage)
    device = setup_distributed()
    cfg = OmniConfig.from_preset(args.preset, **({"codec": args.codec} if args.codec else {}))
    stage = get_stage(args.preset, s)
    stage = dataclasses.replace(stage, steps=args.steps or stage.steps,
                                global_batch=args.global_batch or stage.global_batch)
    data = prepare_course(cfg, progress=int(os.environ.get("RANK", 0)) == 0)
    init = Path(args.init) if args.init else Path(args.out) / f"stage{s - 1}" / "model"
    torch.manual_seed(args.seed)
    model = OmniModel.from_pretrained(init) if s > 0 and init.exists() else OmniModel(cfg)
    if s > 0 and not init.exists():
        print(f"note: {init} does not exist; stage {s} starts from random weights")
    if args.grad_checkpointing:
        model.backbone.gradient_checkpointing_enable()
    model.to(device)
    last = train_stage(Run(model, stage, data.pools, Path(args.out) / f"stage{s}", seed=args.seed,
                           micro_batch=args.micro_batch or Run.micro_batch, resume=args.resume,
                           precision=args.precision,
                           data=_course_data_identity(stage, data.stats["speeds"])))
    if int(os.environ.get("RANK", 0)) == 0:
        final = Path(args.out) / f"stage{s}" / "model"
        model.save_pretrained(final)
        data.tokenizer.save(final / "text_tokenizer.json")
        save_codec(cfg, final)
        print(json.dumps({"last": last, **evaluate_course(model, data, s)}, indent=2))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
