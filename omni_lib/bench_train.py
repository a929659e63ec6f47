"""What does one training step cost? Measured on this machine, then the arithmetic of the paper's run.

    python -m omni_lib.bench train --preset tiny                       # seconds
    python -m omni_lib.bench train --preset mini-omni                  # 2 CPU cores: minutes, ~11 GB
    python -m omni_lib.bench train --preset mini-omni --stage 1 --seq-len 1024 --grad-checkpointing --json

**Measured** (this machine): the preset's model with random weights (same cost as real ones)
trains a stage (``--stage``; default the last, where everything but Whisper trains) through
:func:`omni_lib.train.train_stage` itself, on a fixed pool of random examples of exactly
``--seq-len`` positions (``--task A1A2`` by default: speech in, text and 7 audio rows out;
``mix`` samples the stage's own tasks). The stage's global batch becomes ``--micro-batch`` ×
``--accum`` (default 1 × 1: a full-size stage-3 step already needs ~11 GB here). After
``--warmup`` steps (the first allocates AdamW's state), ``--steps`` steps are timed:
``train_stage`` reports each step's seconds to its ``on_step`` hook, and the hook stops the run
before any checkpoint is written. Peak memory is the process's maximum RSS.

**Computed** (no timing involved): FLOPs of a step from the shapes, and the paper's schedule
(``STAGES["mini-omni"]``: global batch 192 × 15k / 25k / 55k steps, sequences padded to 2,048)
on 8 × A100 (312 TFLOP/s bf16 peak each). The FLOP count, per example of T positions (matmuls
only; embeddings, norms and the optimizer are left out)::

    FLOPs = f_blocks · N_blocks · T                        every position runs the 24 blocks
          + f_attn · n_layer · (n_head · head_size) · T²    QKᵀ and AV, the full T × T matrix
          + f_adapter · N_adapter · L                       L Whisper vectors (speech input only)
          + f_text · N_text_slice · (text targets)          the head is applied only where the
          + f_audio · N_audio_slice · (audio targets)       loss mask is on, one slice per row

    f = 6 for a part that trains (forward 2, input gradients 2, weight gradients 2);
        4 for a frozen part that gradients pass through (no weight gradients);
        2 for the frozen adapter (forward only: nothing below it trains);
    f_attn = 4 forward + 8 backward = 12 (PaLM's 12 · n_layer · d_attn · T per token).

With everything trained this is the usual ``6 · N · tokens`` plus the attention term
(``N`` = the parameters a position's matmuls use). N_blocks = n_layer · (d · head_size ·
(2 n_head + 2 n_query_groups) + 3 · d · intermediate): 357.8 M for mini-omni; the head slices
are 152,000 × 896 (text) and 4,160 × 896 (each audio layer).

    >>> from omni_lib.config import OmniConfig
    >>> p = matmul_params(OmniConfig.from_preset("mini-omni"))
    >>> p["blocks"], p["text_head"], p["audio_head"]
    (357826560, 136192000, 3727360)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from omni_lib.batches import SPEECH_ANSWER, TRAIN_TASKS, Example, collate, make_example
from omni_lib.cli import UsageError, at_least, positive
from omni_lib.config import OmniConfig
from omni_lib.encoder import n_features
from omni_lib.stages import STAGES, Stage, get_stage, trainable_summary
from omni_lib.tokens import SPEECH_IN_TASKS, TEXT_ROW, TokenSpace

A100_BF16_FLOPS = 312e12           # dense bf16 tensor-core peak of one A100
PAPER_GPUS = 8
PAPER_PAD_TO = 2048                # "sequences were padded to 2,048" (spec §8)
ROWS = 8                           # 7 audio rows + 1 text row: tokens per position

# Assumed lengths of a typical example of each task, for the schedule arithmetic (not in the
# paper): speech-in seconds, question tokens, answer tokens, answer-speech seconds.
# ASR: LibriSpeech/MLS utterances of ~10 s (~35 tokens); spoken questions ~5 s; spoken answers ~15 s.
TYPICAL = {
    "ASR": (10.0, 0, 35, 0.0),
    "TTS": (0.0, 0, 35, 10.0),
    "A1T2": (5.0, 0, 100, 0.0),
    "T1T2": (0.0, 40, 150, 0.0),
    "A1A2": (5.0, 0, 50, 15.0),
    "T1A2": (0.0, 40, 50, 15.0),
}


# ---------------------------------------------------------------------------------- the FLOP count
def matmul_params(cfg: OmniConfig) -> dict[str, int]:
    """Matmul weights one use costs: ``blocks`` per position, ``adapter`` per Whisper vector,
    ``text_head`` per text target, ``audio_head`` per audio target (one layer's slice).

    >>> matmul_params(OmniConfig.from_preset("tiny"))["blocks"]     # 3 · (192·32·16 + 3·192·512)
    1179648
    """
    d = cfg.n_embd
    attn = d * cfg.head_size * (2 * cfg.n_head + 2 * cfg.n_query_groups)   # q and o; k and v (grouped)
    return {"blocks": cfg.n_layer * (attn + 3 * d * cfg.intermediate_size),
            "adapter": (2 * cfg.whisper_dim + d) * cfg.adapter_intermediate_size,
            "text_head": cfg.text_vocab_size * d,
            "audio_head": cfg.audio_vocab_size * d}


def flop_factors(stage: Stage) -> dict[str, int]:
    """FLOPs per weight use (see the module docstring): 6 trained, 4 passed through, 2 forward only.

    >>> flop_factors(STAGES["mini-omni"][1])            # LM frozen; adapter and audio code rows train
    {'blocks': 4, 'attention': 12, 'adapter': 6, 'text_head': 4, 'audio_head': 6}
    """
    t = set(stage.trains)
    through = bool(t)                  # every part (adapter, table rows, blocks) lies below the head
    return {"blocks": 2 + 2 * through + 2 * ("blocks" in t), "attention": 4 + 8 * through,
            "adapter": 6 if "adapter" in t else 2,
            "text_head": 2 + 2 * through + 2 * ("text_rows" in t),
            "audio_head": 2 + 2 * through + 2 * bool(t & {"audio_rows", "audio_codes"})}


def example_flops(cfg: OmniConfig, stage: Stage, *, positions: int, speech: int, text_targets: int,
                  audio_targets: int) -> dict[str, int]:
    """Training FLOPs of one example by part, and their ``total``."""
    p, f = matmul_params(cfg), flop_factors(stage)
    out = {"blocks": f["blocks"] * p["blocks"] * positions,
           "attention": f["attention"] * cfg.n_layer * cfg.n_head * cfg.head_size * positions ** 2,
           "adapter": f["adapter"] * p["adapter"] * speech,
           "head": f["text_head"] * p["text_head"] * text_targets + f["audio_head"] * p["audio_head"] * audio_targets}
    out["total"] = sum(out.values())
    return out


def batch_counts(batch: dict) -> list[dict]:
    """Per example of a collated batch: positions (padded, as computed), Whisper vectors, targets."""
    B, _, T = batch["ids"].shape
    lengths = batch.get("lengths", torch.zeros(B, dtype=torch.long))
    m = batch["mask"]
    return [{"positions": T, "speech": int(lengths[b]), "text_targets": int(m[b, TEXT_ROW].sum()),
             "audio_targets": int(m[b, :TEXT_ROW].sum())} for b in range(B)]


def schedule_row(*, steps: int, global_batch: int, positions: float, flops_per_example: float, hours: float,
                 gpus: int = PAPER_GPUS, peak: float = A100_BF16_FLOPS, utilisation: float = 0.4) -> dict:
    """One stage of a schedule: totals, the rate needed to finish in ``hours``, and the hours at ``utilisation``.

    >>> r = schedule_row(steps=10, global_batch=4, positions=100, flops_per_example=1e12, hours=1, gpus=1, peak=1e12)
    >>> r["positions"], r["tokens"], r["flops_per_step"], r["positions_per_s"], r["utilisation_needed"]
    (4000, 32000, 4000000000000.0, 1.111, 0.0111)
    """
    seconds = hours * 3600
    examples = steps * global_batch
    total = examples * flops_per_example
    return {"steps": steps, "global_batch": global_batch, "positions_per_example": round(positions, 1),
            "positions": round(examples * positions), "tokens": round(ROWS * examples * positions),
            "flops_per_step": global_batch * flops_per_example, "flops": total,
            "positions_per_s": round(examples * positions / seconds, 3),
            "tokens_per_s": round(ROWS * examples * positions / seconds, 3),
            "utilisation_needed": round(total / seconds / (gpus * peak), 4),
            f"hours_at_{round(utilisation * 100)}pct": round(total / (utilisation * gpus * peak) / 3600, 2)}


# ---------------------------------------------------------------------------------- examples
def _ids(n: int, ts: TokenSpace, g: torch.Generator) -> list[int]:
    return torch.randint(0, ts.cfg.text_special_start, (n,), generator=g).tolist()


def _example(cfg: OmniConfig, task: str, *, speech_in: int, question: int, answer: int, frames: int,
             g: torch.Generator) -> Example:
    ts = TokenSpace(cfg)
    return Example(task, question=_ids(question, ts, g), answer=_ids(answer, ts, g),
                   frames=(torch.randint(0, cfg.audio_codebook_size, (cfg.n_audio_layers, frames), generator=g)
                           if task in SPEECH_ANSWER else None),
                   features=torch.randn(speech_in, cfg.whisper_dim, generator=g) if task in SPEECH_IN_TASKS else None)


def sized_example(cfg: OmniConfig, task: str, seq_len: int, g: torch.Generator) -> Example:
    """A random ``task`` example of exactly ``seq_len`` positions (``T = P + S - 1``, :mod:`omni_lib.batches`).

    A third of the positions is the question (Whisper vectors, capped by the window, or a sixth
    in text tokens); the rest is the answer: text tokens, or speech frames with a text a quarter
    as long (``S = F + 8``). TTS speaks its own prompt text.
    """
    if seq_len < 32:
        raise ValueError(f"--seq-len {seq_len}: use at least 32 positions")
    if task in SPEECH_IN_TASKS:
        L = min(seq_len // 3, n_features(1e9, window_s=cfg.whisper_window_s))
        q, P = 0, L + 3
    else:
        L, q = 0, seq_len // 6
        P = q + 3
    S = seq_len - P + 1                                                  # answer steps
    if task == "TTS":
        return _example(cfg, task, speech_in=0, question=0, answer=q, frames=S - 8, g=g)
    if task in SPEECH_ANSWER:
        return _example(cfg, task, speech_in=L, question=q, answer=max(1, (S - 8) // 4), frames=S - 8, g=g)
    return _example(cfg, task, speech_in=L, question=q, answer=S - 1, frames=0, g=g)


def typical_example(cfg: OmniConfig, task: str, g: torch.Generator) -> Example:
    """A random ``task`` example of the :data:`TYPICAL` lengths (for the schedule arithmetic)."""
    speech_s, q, a, answer_s = TYPICAL[task]
    return _example(cfg, task, speech_in=n_features(speech_s, window_s=cfg.whisper_window_s), question=q,
                    answer=a, frames=round(answer_s * cfg.frames_per_second), g=g)


# ---------------------------------------------------------------------------------- the schedule
def paper_schedule(preset: str = "mini-omni", *, pad_to: int | None = PAPER_PAD_TO, hours: float = 24.0,
                   gpus: int = PAPER_GPUS, peak: float = A100_BF16_FLOPS, utilisation: float = 0.4) -> dict:
    """Every stage of ``STAGES[preset]`` on ``gpus`` × ``peak``: examples of :data:`TYPICAL` lengths in
    the stage's task mix, padded to ``pad_to`` positions (``None``: each at its own length)."""
    cfg = OmniConfig.from_preset(preset)
    g = torch.Generator().manual_seed(0)
    counts = {}
    for task in TRAIN_TASKS:
        (c,) = batch_counts(collate([typical_example(cfg, task, g)], cfg))
        counts[task] = {**c, "positions": pad_to or c["positions"]}
    rows = {}
    for s, stage in STAGES[preset].items():
        w = {t: v / sum(stage.tasks.values()) for t, v in stage.tasks.items()}
        positions = sum(w[t] * counts[t]["positions"] for t in w)
        flops = sum(w[t] * example_flops(cfg, stage, **counts[t])["total"] for t in w)
        rows[s] = {"name": stage.name, **schedule_row(steps=stage.steps, global_batch=stage.global_batch,
                                                      positions=positions, flops_per_example=flops, hours=hours,
                                                      gpus=gpus, peak=peak, utilisation=utilisation)}
    return {"preset": preset, "pad_to": pad_to, "hours": hours, "gpus": gpus, "peak_tflops": peak / 1e12,
            "utilisation_assumed": utilisation, "example_positions": {t: c["positions"] for t, c in counts.items()},
            "stages": rows}


# ---------------------------------------------------------------------------------- the measurement
class _Enough(Exception):
    """Raised by the ``on_step`` hook to leave ``train_stage`` once the timed steps are done."""


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None


def bench_train(preset: str = "mini-omni", *, stage: int | None = None, task: str = "A1A2", micro_batch: int = 1,
                accum: int = 1, seq_len: int = 512, precision: str = "fp32", grad_checkpointing: bool = False,
                steps: int = 2, warmup: int = 1, threads: int | None = None, seed: int = 0,
                hours: float = 24.0, pad_to: int | None = PAPER_PAD_TO, log=None, **overrides) -> dict:
    """Time ``warmup + steps`` optimizer steps of ``train_stage``; every figure as a dict (``--json``).

    ``overrides`` go to :meth:`OmniConfig.from_preset` (tests: ``n_layer=1``).
    """
    from omni_lib.model import OmniModel
    from omni_lib.train import Run, step_examples, train_stage

    log = log or (lambda msg: None)
    if threads:
        torch.set_num_threads(threads)
    cfg = OmniConfig.from_preset(preset, **overrides)
    stage_no = max(STAGES[preset]) if stage is None else stage
    base = get_stage(preset, stage_no)
    tasks = dict(base.tasks) if task == "mix" else {task: 1.0}
    # One fixed pool per task; steps never reach the stage's end, so nothing is saved or plotted.
    st = dataclasses.replace(base, tasks=tasks, global_batch=micro_batch * accum, steps=10 ** 9)
    g = torch.Generator().manual_seed(seed)
    pools = {t: [sized_example(cfg, t, seq_len, g) for _ in range(2)] for t in tasks}

    log(f"building the {preset} model (random weights)")
    torch.manual_seed(seed)
    model = OmniModel(cfg)
    if grad_checkpointing:   # as train.py's --grad-checkpointing (the method's newer name when transformers has it)
        bb = model.backbone
        getattr(bb, "activation_checkpointing_enable", bb.gradient_checkpointing_enable)()
    rss_model = _rss_mb()
    seen: list[dict] = []

    def on_step(m: dict) -> None:
        seen.append(m)
        log(f"step {len(seen)}/{warmup + steps}: {m['seconds']:.2f} s, loss {m['loss']:.3f}")
        if len(seen) == warmup + steps:
            raise _Enough

    with tempfile.TemporaryDirectory() as out:
        try:
            train_stage(Run(model, st, pools, Path(out), seed=seed, micro_batch=micro_batch, save_every=10 ** 9,
                            log_every=1, precision=precision, on_step=on_step, progress=False))
        except _Enough:
            pass
        leftover = sorted(p.name for p in Path(out).iterdir() if p.name != "metrics.jsonl")
    model.eval()
    if leftover:
        raise RuntimeError(f"train_stage wrote {leftover} before its on_step hook ran: the benchmark's stop misfired")

    timed = [m["seconds"] for m in seen[warmup:]]
    # FLOPs of the very examples of the timed steps (the same pick as train_stage's), micro-batch by micro-batch
    per_example = []
    for k in range(warmup, warmup + steps):
        examples = step_examples(pools, st, k, seed)
        for i in range(0, len(examples), micro_batch):
            counts = batch_counts(collate(examples[i:i + micro_batch], cfg))
            per_example += [example_flops(cfg, base, **c) for c in counts]
    flops_step = {k: sum(e[k] for e in per_example) // steps for k in per_example[0]}
    trained = trainable_summary(model)
    step_s = statistics.median(timed)
    return {
        "preset": preset, "stage": stage_no, "stage_name": base.name, "task": task, "micro_batch": micro_batch,
        "accum": accum, "seq_len": seq_len, "precision": precision, "grad_checkpointing": grad_checkpointing,
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "measured": {"step_s": round(step_s, 3), "steps_s": [round(s, 3) for s in timed],
                     "warmup_s": [round(m["seconds"], 3) for m in seen[:warmup]],
                     "positions_per_s": round(micro_batch * accum * seq_len / step_s, 1),
                     "achieved_gflop_s": round(flops_step["total"] / step_s / 1e9, 1),
                     "rss_after_build_mb": None if rss_model is None else round(rss_model),
                     "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                     "first_loss": round(seen[0]["loss"], 3)},
        "computed": {"examples_per_step": micro_batch * accum, "positions_per_step": micro_batch * accum * seq_len,
                     "tokens_per_step": ROWS * micro_batch * accum * seq_len, "flops_per_step": flops_step,
                     "params_total": sum(p.numel() for p in model.parameters()),
                     "params_trained": sum(trained.values()), "params_trained_by_part": trained,
                     "matmul_params": matmul_params(cfg)},
        "schedule": paper_schedule(pad_to=pad_to or None, hours=hours),
    }


# ---------------------------------------------------------------------------------- report
def _si(x: float) -> str:
    for unit, div in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.3g} {unit}"
    return f"{x:.3g} "


def format_schedule(s: dict) -> list[str]:
    pad = f"padded to {s['pad_to']}" if s["pad_to"] else "unpadded (each example at its own length)"
    pct = round(s["utilisation_assumed"] * 100)
    lines = [f"the paper's schedule on {s['gpus']} x A100 ({s['peak_tflops']:.0f} TFLOP/s bf16 peak each), "
             f"sequences {pad}:",
             f"{'stage':<26}{'steps':>7}{'pos/ex':>8}{'tokens':>9}{'FLOP/step':>11}{'FLOP':>9}"
             f"{'tok/s in ' + str(round(s['hours'])) + ' h':>14}{'util. needed':>13}{'h at ' + str(pct) + '%':>9}"]
    for k, r in s["stages"].items():
        lines.append(f"{str(k) + ' ' + r['name']:<26}{r['steps']:>7}{r['positions_per_example']:>8.0f}"
                     f"{_si(r['tokens']):>9}{_si(r['flops_per_step']):>11}{_si(r['flops']):>9}"
                     f"{_si(r['tokens_per_s']):>14}{r['utilisation_needed']:>13.1%}{r[f'hours_at_{pct}pct']:>9.1f}")
    return lines


def format_train(r: dict) -> str:
    """The result as a readable report: measured first, then computed."""
    m, c = r["measured"], r["computed"]
    f = c["flops_per_step"]
    lines = [f"training step: preset {r['preset']}, stage {r['stage']} ({r['stage_name']}), task {r['task']}, "
             f"micro-batch {r['micro_batch']} x {r['accum']}, {r['seq_len']} positions, {r['precision']}"
             f"{', gradient checkpointing' if r['grad_checkpointing'] else ''}; {r['threads']} threads, "
             f"torch {r['torch']}, load average {r['load_average']}", "",
             "MEASURED (this machine)",
             f"  time per step     {m['step_s']:.2f} s (median of {len(m['steps_s'])}; warm-up "
             f"{', '.join(f'{s:.2f}' for s in m['warmup_s'])} s)",
             f"  throughput        {m['positions_per_s']:.0f} positions/s, {m['achieved_gflop_s']:.0f} GFLOP/s "
             f"(computed FLOPs / measured time)",
             f"  peak memory       {m['peak_rss_mb']} MiB max RSS (after building the model: "
             f"{m['rss_after_build_mb']} MiB)",
             f"  first loss        {m['first_loss']:.2f} (random weights)", "",
             "COMPUTED (from the shapes)",
             f"  per step          {c['examples_per_step']} examples, {c['positions_per_step']} positions, "
             f"{c['tokens_per_step']} tokens (8 rows)",
             f"  FLOPs per step    {_si(f['total'])}FLOP = blocks {_si(f['blocks'])} + attention {_si(f['attention'])}"
             f" + adapter {_si(f['adapter'])} + head {_si(f['head'])}",
             f"  parameters        {c['params_total'] / 1e6:.1f} M, trained in this stage "
             f"{c['params_trained'] / 1e6:.1f} M "
             f"({', '.join(f'{k} {v / 1e6:.1f} M' for k, v in c['params_trained_by_part'].items())})", ""]
    return "\n".join(lines + format_schedule(r["schedule"]))


# ---------------------------------------------------------------------------------- command line
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="mini-omni", choices=sorted(STAGES),
                   help="config preset (mini-omni: the released shape; tiny: seconds)")
    p.add_argument("--stage", type=int, default=None, help="stage of STAGES[preset] whose parameters train "
                   "(default: the last, everything but Whisper)")
    p.add_argument("--task", choices=TRAIN_TASKS + ("mix",), default="A1A2",
                   help="the examples' task (default A1A2); mix: the stage's own task mix")
    p.add_argument("--micro-batch", type=at_least(1), default=1,
                   help="examples per forward/backward (default 1: a full-size stage-3 step needs ~11 GB of RAM)")
    p.add_argument("--accum", type=at_least(1), default=1, help="micro-batches per optimizer step (default 1)")
    p.add_argument("--seq-len", type=at_least(1), default=512,
                   help="positions per example (default 512; the paper padded to 2048)")
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32",
                   help="bf16: autocast; auto: as train.py by default (on a CPU with AMX, the head in bf16)")
    p.add_argument("--grad-checkpointing", action="store_true",
                   help="recompute activations in backward (less memory)")
    p.add_argument("--steps", type=at_least(1), default=2, help="timed optimizer steps (default 2)")
    p.add_argument("--warmup", type=at_least(0), default=1, help="untimed steps first (default 1)")
    p.add_argument("--threads", type=at_least(1), default=None, help="torch threads (default: torch's, i.e. the cores)")
    p.add_argument("--hours", type=positive(float), default=24.0, help="time budget per stage for the schedule arithmetic")
    p.add_argument("--pad-to", type=at_least(0), default=PAPER_PAD_TO,
                   help="the schedule's positions per example (default 2048, as the paper; 0: each example's own)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the report")


def run(args: argparse.Namespace) -> int:
    if args.stage is not None and args.stage not in STAGES[args.preset]:
        raise UsageError(f"--stage {args.stage}: --preset {args.preset} has stages "
                         f"{', '.join(map(str, sorted(STAGES[args.preset])))}")
    log = None if args.json else (lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))
    busy = os.getloadavg()[0]
    if busy >= 1.0:
        print(f"warning: load average {busy:.1f}: other processes use the CPU; several threads then wait for "
              f"each other at every operation (--threads 1 suffers far less)", file=sys.stderr)
    r = bench_train(args.preset, stage=args.stage, task=args.task, micro_batch=args.micro_batch, accum=args.accum,
                    seq_len=args.seq_len, precision=args.precision, grad_checkpointing=args.grad_checkpointing,
                    steps=args.steps, warmup=args.warmup, threads=args.threads, hours=args.hours, pad_to=args.pad_to,
                    log=log)
    print(json.dumps(r) if args.json else format_train(r))
    return 0
