"""How fast does it talk, and what does a training step cost? Benchmarks on this machine.

    python -m omni_lib.bench decode --preset mini-omni [--dtype fp32|bf16|int8] [--steps 64] [--json]
    python -m omni_lib.bench latency --preset mini-omni [--precision fp32 fast] [--json]
    python -m omni_lib.bench train --preset mini-omni [--micro-batch 1] [--seq-len 512] [--json]
    python -m omni_lib.bench eval ...       # the evaluation benchmark: arguments go to omni_lib.eval.bench_main

``latency`` (the time to first audio of a spoken question, piece by piece, each piece against
its own bound) lives in :mod:`omni_lib.bench_latency`, ``train`` (one optimizer step of a stage,
measured, and the paper's 8×A100 schedule, computed) in :mod:`omni_lib.bench_train`; the rest
of this module is ``decode``: decoding speed, ours against a reference-style decode.

``decode`` builds the model of the preset with random weights (same cost as the real ones), then
measures in ONE run, interleaving the decoders round by round so that a busy machine slows all of
them alike:

* **ours**: :func:`omni_lib.decode.decode_steps`, batch-parallel (batch 2), the fast path;
* **plain**: the same loop with ``fast=False`` (the backbone's own forward and growing cache,
  every logit of both rows): what a straightforward Hugging Face loop costs;
* **reference-style**: the release's way, written out below: a preallocated 2,048-slot KV cache
  attended in full (with a mask) at every step, all 181,120 logits for both rows, and a host
  sync (``.item()``) per sampled token. In fp32, and also in ``--dtype`` when that differs.

It prints prefill time, ms per step and steps/s against the real-time bar (11.72 steps/s: one
SNAC frame per step), peak memory, and the memory-bandwidth
bound: weight bytes read per step / the read bandwidth measured in the same run. The bandwidth
is sampled just before every timed run (:class:`BandwidthProbe`) and each run is judged against
its own sample: this machine's bandwidth moves by a fifth within minutes, and a bound taken
once at the start would judge later runs against another machine.

``matrix_products`` times only the weight matrices of one of our steps (the same bytes, nothing
else): the floor the matrix kernels set, and so what limits a step; the rest of a step (norms,
RoPE, attention, sampling, Python) is the difference to ``ours``.

``ours_text_ended`` times our steps once the text answer has ended (its row is then ``pad_t``
and its 152,000 logits are skipped): most steps of a spoken answer, whose text is much shorter
than its audio. Greedy tokens of the decoders are compared (``tokens = ours``): equal in fp32;
in bf16/int8 random weights give near-tied logits, so they part early, and the relative error of
the logits against fp32 is printed instead.

``--preset tiny --steps 5`` runs in seconds (for tests). Timings on a shared machine are noisy:
the medians of per-step times are reported, with the load average at the start; when another
process holds a core, two threads wait for each other at every operation and ``--threads 1``
measures the decoders far better.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import sys
import time
import warnings

import torch

from omni_lib import bench_latency, bench_train
from omni_lib.cli import add_debug, at_least, command, positive
from omni_lib.config import PRESETS, OmniConfig
from omni_lib.decode import Request, decode_steps
from omni_lib.model import Int8Linear, OmniModel, _attend, _rotate, quantize_int8
from omni_lib.tokens import TokenSpace, build_batch_parallel

DTYPES = ("fp32", "bf16", "int8")
OURS = ("ours", "ours_text_ended", "matrix_products")   # our rows; the others are what ours is compared with
REFERENCE_SLOTS = 2048            # the release's KV cache: block_size slots, all attended every step


# ---------------------------------------------------------------------------------- models
def build_model(cfg: OmniConfig, seed: int = 0) -> OmniModel:
    """The preset's model with random weights, which decodes a fixed number of steps.

    Random weights may sample ``eoa`` in layer 6 and stop early; its head row is zeroed (its
    logit is then 0, below the maximum of 4,160 random logits), so every run decodes ``--steps``.
    """
    torch.manual_seed(seed)
    model = OmniModel(cfg).eval().requires_grad_(False)
    ts = TokenSpace(cfg)
    model.lm_head.weight[ts.audio_id(ts.eoa, cfg.n_audio_layers - 1)] = 0
    return model


def convert(model: OmniModel, dtype: str) -> OmniModel:
    """``fp32`` as is; ``bf16`` weights and activations; ``int8`` weights (:func:`quantize_int8`)."""
    if dtype == "bf16":
        return model.to(torch.bfloat16)
    if dtype == "int8":
        return quantize_int8(model)
    return model


def weight_bytes_per_step(model: OmniModel, *, text_head: bool = True) -> int:
    """Bytes of weights one decoding step reads: every block, the final norm, the head's rows.

    Batch-parallel, row 0 needs the audio rows of the head and row 1 the text rows, together the
    whole head (the reference-style decode reads the same rows, for both batch rows at once).
    ``text_head=False``: after the text has ended, our decode skips the 152,000 text rows.
    The embedding lookups (8 rows per token) are negligible and not counted.
    """
    def nbytes(module):
        total = 0
        for m in module.modules():
            total += getattr(m, "weight_bytes", 0)               # Int8Linear keeps its packs outside
            for t in list(m.parameters(recurse=False)) + list(m.buffers(recurse=False)):
                total += t.numel() * t.element_size()
        return total

    bb = model.backbone
    head = nbytes(model.lm_head)
    if not text_head:
        head -= head * model.cfg.text_vocab_size // model.cfg.padded_vocab_size   # rows are equal-sized
    return nbytes(bb.layers) + nbytes(bb.norm) + head


# ---------------------------------------------------------------------------------- bandwidth
class BandwidthProbe:
    """Read bandwidth in bytes/s, sampled next to each timed run: fp32 matrix-vector products over
    an ``mib`` MiB matrix kept for the whole benchmark.

    The matrix is larger than the caches, so each product streams it from memory once, as a
    decoding step streams its weights. A sample is the *median* of ``tries`` products, as a
    run's ms/step is the median of its steps; taking each sample just before the run it bounds
    means a machine that slows down (other tenants' memory traffic) moves both alike.

        >>> probe = BandwidthProbe(8)
        >>> probe.sample() > 0
        True
    """

    def __init__(self, mib: int = 1024, cols: int = 4096):
        self.w = torch.empty(mib * 2**20 // 4 // cols, cols).normal_()
        self.v = torch.randn(cols)
        self.nbytes = self.w.numel() * 4
        torch.mv(self.w, self.v)                                       # first touch, page faults

    def sample(self, tries: int = 5) -> float:
        times = []
        for _ in range(tries):
            t = time.perf_counter()
            torch.mv(self.w, self.v)
            times.append(time.perf_counter() - t)
        return self.nbytes / statistics.median(times)


# ---------------------------------------------------------------------------------- decoders
def time_ours(model: OmniModel, feats: torch.Tensor, steps: int, *, fast: bool = True,
              text_ended: bool = False, share_prefix: bool = True) -> dict:
    """Run :func:`decode_steps` batch-parallel; the prefill time and each step's time (ms).

    ``text_ended``: the text answer ends at once (a forward hook makes ``eot`` win at steps 0
    and 1), so every later step is like the bulk of a spoken answer, where the text row has
    ended (it is ``pad_t``) and the speech goes on; those steps are timed (from step 2 on).
    """
    hook = None
    if text_ended:
        eot = TokenSpace(model.cfg).eot

        def make_eot_win(module, args, out):
            out.text_logits[..., eot] = float("inf")
            return out
        hook = model.register_forward_hook(make_eot_win)
    try:
        t0 = time.perf_counter()
        stamps, tokens = [], []
        for s in decode_steps(model, [Request("A1A2", feats)], max_new_steps=steps, batch_parallel=True, fast=fast,
                                share_prefix=share_prefix):
            stamps.append(time.perf_counter())
            tokens.append(s.audio.tolist() + [s.text])
    finally:
        if hook is not None:
            hook.remove()
    skip = 2 if text_ended else 0
    return {"prefill_ms": (stamps[0] - t0) * 1e3,
            "step_ms": [(b - a) * 1e3 for a, b in zip(stamps[skip:], stamps[skip + 1:])], "tokens": tokens}


@torch.inference_mode()
def time_reference_style(model: OmniModel, feats: torch.Tensor, steps: int, slots: int = REFERENCE_SLOTS) -> dict:
    """The release's decode, written out honestly on the same weights (spec §7, last point).

    A preallocated ``slots``-long KV cache; each step writes its slot, builds a mask over all
    slots and attends the whole cache; the head computes all 181,120 logits for both rows; every
    sampled token is read back with ``.item()``. (Key/value heads are not copied per query head,
    as in our path, so the difference measured is only the cache length, the head and the syncs.)
    """
    cfg, bb = model.cfg, model.backbone
    c = bb.config
    ts = TokenSpace(cfg)
    H, G = c.num_attention_heads, c.num_key_value_heads
    hs = getattr(c, "head_dim", None) or c.hidden_size // H
    n, A, Vt = cfg.n_audio_layers, cfg.audio_vocab_size, cfg.text_vocab_size
    t0 = time.perf_counter()
    ids = build_batch_parallel(cfg, n_audio=len(feats))                       # (2, 8, T)
    B, _, T = ids.shape
    if T + steps > slots:
        raise ValueError(f"a prompt of {T} plus {steps} steps does not fit in {slots} slots")
    x = model.embed(ids, feats[None].expand(B, -1, -1))
    kc = torch.zeros(len(bb.layers), B, G, slots, hs, dtype=x.dtype)
    vc = torch.zeros_like(kc)
    every_slot = torch.arange(slots)

    def blocks(x, input_pos):                                                 # x (B, t, d), input_pos (t,)
        t = x.shape[1]
        mask = (every_slot[None, :] <= input_pos[:, None])[None, None]          # (1, 1, t, slots): all slots
        cos, sin = bb.rotary_emb(x, input_pos[None].expand(B, t))
        cos, sin = cos[:, None], sin[:, None]
        for i, layer in enumerate(bb.layers):
            attn = layer.self_attn
            h = layer.input_layernorm(x)
            q = attn.q_proj(h).view(B, t, H, hs).transpose(1, 2)
            k = attn.k_proj(h).view(B, t, G, hs).transpose(1, 2)
            kc[i].index_copy_(2, input_pos, _rotate(k, cos, sin))
            vc[i].index_copy_(2, input_pos, attn.v_proj(h).view(B, t, G, hs).transpose(1, 2))
            o = _attend(_rotate(q, cos, sin), kc[i], vc[i], mask, getattr(attn, "scaling", None))
            x = x + attn.o_proj(o.transpose(1, 2).reshape(B, t, H * hs))
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return model.lm_head(bb.norm(x)[:, -1])                              # (B, 181120): every logit

    logits = blocks(x, torch.arange(T))
    stamps, tokens = [], []
    offsets = [ts.audio_offset(j) for j in range(n)]
    text_end = False
    for step in range(steps):
        audio = [int(logits[0, Vt + j * A: Vt + (j + 1) * A].argmax().item()) for j in range(n)]   # row 0
        text = int(logits[1, :Vt].argmax().item())                                                # row 1
        if step > 0 and text_end:
            text = ts.pad_t
        text_end = text_end or (step > 0 and text == ts.eot)
        stamps.append(time.perf_counter())
        tokens.append(audio + [text])
        col = torch.tensor([[a + o for a, o in zip(audio, offsets)] + [text],
                            [ts.audio_id(ts.pad_a, j) for j in range(n)] + [text]])[:, :, None]   # (2, 8, 1)
        if step < steps - 1:
            logits = blocks(model.embed(col), torch.tensor([T + step]))
    return {"prefill_ms": (stamps[0] - t0) * 1e3,
            "step_ms": [(b - a) * 1e3 for a, b in zip(stamps, stamps[1:])], "tokens": tokens}


@torch.inference_mode()
def time_matrix_products(model: OmniModel, steps: int) -> dict:
    """Only the weight matrices of a batch-parallel step, each called as ours calls it: ``steps`` times.

    Every block matrix on a batch of 2 rows, the head's text rows on row 1 and its audio rows on
    row 0: the same weight bytes as one of our steps, with nothing else. What this takes is the
    floor the matrix kernels set (int8: fbgemm's dynamic kernel); the rest of a step (norms,
    RoPE, attention, sampling) is the difference to ``ours``.
    """
    cfg = model.cfg
    dtype = model.backbone.get_input_embeddings().weight.dtype
    mats = [m for m in model.backbone.layers.modules() if isinstance(m, (torch.nn.Linear, Int8Linear))]
    xs = [torch.randn(2, 1, m.in_features, dtype=dtype) for m in mats]
    h = torch.randn(1, 1, cfg.n_embd, dtype=dtype)
    stamps = [time.perf_counter()]
    for _ in range(steps):
        for m, x in zip(mats, xs):
            m(x)
        model._head(h, 0, cfg.text_vocab_size)
        model._head(h, cfg.audio_start, cfg.padded_vocab_size)
        stamps.append(time.perf_counter())
    return {"step_ms": [(b - a) * 1e3 for a, b in zip(stamps, stamps[1:])]}


# ---------------------------------------------------------------------------------- speech in / out
def question_features(cfg: OmniConfig, seconds: float) -> torch.Tensor:
    """Whisper features ``[L, D]`` of ``seconds`` of (random) speech, from the preset's Whisper with
    random weights: the prompt the decoders are timed on (Whisper's own time: ``bench latency``)."""
    from omni_lib.encoder import WhisperEncoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = WhisperEncoder.from_config(cfg, random_init=True)
    wave = 0.1 * torch.randn(int(16_000 * seconds), generator=torch.Generator().manual_seed(1))
    feats, lengths = enc.encode([wave], 16_000)
    return feats[0, : int(lengths[0])]


# ---------------------------------------------------------------------------------- the benchmark
def _summary(runs: list[dict], weight_bytes: int | None) -> dict:
    """Median ms/step over all runs' steps; the fraction of the bound per run (from the bandwidth
    sampled just before that run), reported as the median over runs and its range."""
    step_ms = [ms for r in runs for ms in r["step_ms"]]
    med = statistics.median(step_ms) if step_ms else float("nan")
    prefills = [r["prefill_ms"] for r in runs if "prefill_ms" in r]
    out = {"prefill_ms": round(min(prefills), 1) if prefills else None,
           "ms_per_step": round(med, 2),
           "ms_per_step_mean": round(statistics.fmean(step_ms), 2) if step_ms else None,
           "steps_per_s": round(1000 / med, 2)}
    if weight_bytes:
        fractions = [1000 / statistics.median(r["step_ms"]) / (r["bandwidth"] / weight_bytes)
                     for r in runs if r["step_ms"]]
        out["fraction_of_bound"] = round(statistics.median(fractions), 3)
        out["fraction_of_bound_range"] = [round(min(fractions), 3), round(max(fractions), 3)]
    return out


@torch.inference_mode()
def logits_error(model: OmniModel, fp32: OmniModel, feats: torch.Tensor) -> dict:
    """Relative error (norm of the difference / norm) of the prompt's last logits against fp32.

    With random weights the top logits nearly tie, so greedy tokens of two precisions part
    within a few steps; this is the measure of how far a precision moves the logits.
    """
    ids = build_batch_parallel(fp32.cfg, n_audio=len(feats))
    f = feats[None].expand(2, -1, -1)
    a, b = model(ids, f, last_only=True), fp32(ids, f, last_only=True)
    err = lambda x, y: round(float((x.float() - y).norm() / y.norm()), 4)    # noqa: E731
    return {"text": err(a.text_logits, b.text_logits), "audio": err(a.audio_logits, b.audio_logits)}


def _agreement(a: list, b: list) -> dict:
    """How many leading steps two decodes share (all 8 tokens equal), out of how many."""
    same = 0
    for x, y in zip(a, b):
        if x != y:
            break
        same += 1
    return {"equal_steps": same, "of": min(len(a), len(b))}


def bench_decode(preset: str = "mini-omni", dtype: str = "fp32", steps: int = 64, rounds: int = 2,
                 audio_seconds: float = 2.0, threads: int | None = None, reference: str = "both",
                 plain: bool = True, seed: int = 0, log=None) -> dict:
    """Run the decode benchmark; returns every figure as a dict (what ``--json`` prints)."""
    log = log or (lambda msg: None)
    if threads:
        torch.set_num_threads(threads)
    cfg = OmniConfig.from_preset(preset)
    result = {"preset": preset, "dtype": dtype, "steps": steps, "rounds": rounds, "threads": torch.get_num_threads(),
              "torch": torch.__version__, "load_average": [round(x, 2) for x in os.getloadavg()],
              "real_time_steps_per_s": round(cfg.frames_per_second, 2)}

    log("allocating the bandwidth probe")
    probe = BandwidthProbe(64 if preset == "tiny" else 1024)

    log(f"building the {preset} model (random weights)")
    t = time.perf_counter()
    base = build_model(cfg, seed)
    result["build_s"] = round(time.perf_counter() - t, 1)
    keep_fp32 = dtype != "fp32" and reference in ("both", "fp32")   # the fp32 model stays for the reference
    ours_model = convert(copy.deepcopy(base) if keep_fp32 else base, dtype)
    models = {"ours": ours_model, "ours_text_ended": ours_model, "matrix_products": ours_model}
    if plain:
        models["plain"] = ours_model
    if reference in ("both", "fp32"):
        models["reference_fp32"] = base
    if reference == "same" or (reference == "both" and dtype != "fp32"):
        models[f"reference_{dtype}"] = ours_model
    weight_bytes = {name: weight_bytes_per_step(m) for name, m in models.items()}
    weight_bytes["ours_text_ended"] = weight_bytes_per_step(ours_model, text_head=False)
    result["weights_mb"] = round(sum(p.numel() * p.element_size() for p in ours_model.parameters()) / 2**20
                                 + sum(getattr(m, "weight_bytes", 0) for m in ours_model.modules()) / 2**20, 1)
    result["weight_mb_per_step"] = round(weight_bytes["ours"] / 2**20, 1)

    log(f"Whisper features of a {audio_seconds:g} s question")
    feats = question_features(cfg, audio_seconds)
    result["prompt_positions"] = len(feats) + 3
    result["kv_cache_mb"] = {"ours": round(ours_model.new_kv_cache(2, len(feats) + 3 + steps).nbytes() / 2**20, 1),
                             "reference": round(ours_model.new_kv_cache(2, REFERENCE_SLOTS).nbytes() / 2**20, 1)}

    def run(name: str, n: int) -> dict:
        if name == "ours":
            return time_ours(models[name], feats, n)
        if name == "plain":
            return time_ours(models[name], feats, n, fast=False)
        if name == "ours_text_ended":
            return time_ours(models[name], feats, n, text_ended=True)
        if name == "matrix_products":
            return time_matrix_products(models[name], n)
        return time_reference_style(models[name], feats, n)

    for name in models:                                                 # warm-up (first-call costs)
        run(name, 2)
    runs: dict[str, list] = {k: [] for k in models}
    samples = []
    for r in range(rounds):                                             # interleaved: noise hits all alike
        for name in models:
            log(f"round {r + 1}/{rounds}: {name}")
            samples.append(probe.sample())                              # the bandwidth right now
            runs[name].append(run(name, steps) | {"bandwidth": samples[-1]})

    bw = statistics.median(samples)
    result["bandwidth_gb_s"] = round(bw / 1e9, 2)
    result["bandwidth_gb_s_range"] = [round(min(samples) / 1e9, 2), round(max(samples) / 1e9, 2)]
    result["bound_steps_per_s"] = round(bw / weight_bytes["ours"], 2)
    result["bound_text_ended_steps_per_s"] = round(bw / weight_bytes["ours_text_ended"], 2)
    for name in models:
        result[name] = _summary(runs[name], weight_bytes[name])
    result["matrix_products"]["read_gb_s"] = round(weight_bytes["ours"] / result["matrix_products"]["ms_per_step"]
                                                   / 1e6, 2)
    for ours in ("ours", "ours_text_ended"):
        for name in models:
            if name not in OURS:
                result[ours][f"speedup_vs_{name}"] = round(result[ours]["steps_per_s"] / result[name]["steps_per_s"], 2)
        result[ours]["real_time"] = result[ours]["steps_per_s"] >= cfg.frames_per_second
    for name in models:
        if name not in OURS:
            result[name]["tokens_vs_ours"] = _agreement(runs["ours"][0]["tokens"], runs[name][0]["tokens"])

    if dtype != "fp32" and "reference_fp32" in models:
        result["logits_rel_err_vs_fp32"] = logits_error(ours_model, base, feats)

    # The probe is allocated before the models and kept to the end, so in a fresh process (the
    # command) the peak includes it: take it out.
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - probe.nbytes / 2**20, 1)
    return result


def format_table(r: dict) -> str:
    """The result as a readable report."""
    lines = [f"decode benchmark: preset {r['preset']}, {r['dtype']}, batch-parallel (batch 2), {r['steps']} steps x "
             f"{r['rounds']} rounds, {r['threads']} threads, torch {r['torch']}, load average {r['load_average']}",
             f"prompt {r['prompt_positions']} positions; weights {r['weights_mb']} MiB, read per step "
             f"{r['weight_mb_per_step']} MiB; bandwidth {r['bandwidth_gb_s']} GB/s (median of the samples "
             f"taken before each run, range {r['bandwidth_gb_s_range'][0]}-{r['bandwidth_gb_s_range'][1]}) -> bound "
             f"{r['bound_steps_per_s']} steps/s; real time = {r['real_time_steps_per_s']} steps/s", "",
             f"{'decoder':<18}{'prefill ms':>11}{'ms/step':>9}{'steps/s':>9}{'of bound':>9}{'(range)':>13}"
             f"  tokens = ours"]
    names = [k for k in OURS + ("plain",) if k in r] + [k for k in r if k.startswith("reference_")]
    for name in names:
        d = r[name]
        agree = d.get("tokens_vs_ours")
        agree = f"{agree['equal_steps']}/{agree['of']} steps" if agree else ""
        prefill = "-" if d["prefill_ms"] is None else f"{d['prefill_ms']:.1f}"
        lo, hi = d.get("fraction_of_bound_range", (float("nan"),) * 2)
        lines.append(f"{name:<18}{prefill:>11}{d['ms_per_step']:>9.1f}{d['steps_per_s']:>9.2f}"
                     f"{d.get('fraction_of_bound', float('nan')):>9.2f}{f'({lo:.2f}-{hi:.2f})':>13}  {agree}")
    lines.append("(ours_text_ended: steps after the text answer has ended, the bulk of a spoken answer; "
                 f"its bound is {r['bound_text_ended_steps_per_s']} steps/s)")
    lines.append(f"(matrix_products: only the weight matrices of one of our steps, nothing else: they read "
                 f"{r['matrix_products']['read_gb_s']} GB/s, {r['matrix_products']['fraction_of_bound']:.2f} "
                 f"of the bandwidth; the rest of a step costs {r['ours']['ms_per_step'] - r['matrix_products']['ms_per_step']:.1f} ms)")
    lines.append("(of bound: per run, against the bandwidth sampled just before it; the median over runs and its range)")
    for other in [k for k in names if k not in OURS]:
        lines.append(f"ours / {other}: {r['ours'][f'speedup_vs_{other}']:.2f}x, "
                     f"text ended {r['ours_text_ended'][f'speedup_vs_{other}']:.2f}x")
    if "logits_rel_err_vs_fp32" in r:
        e = r["logits_rel_err_vs_fp32"]
        lines.append(f"{r['dtype']} logits vs fp32 (prompt's last position): relative error text {e['text']}, "
                     f"audio {e['audio']} (random weights: near-tied logits, so greedy tokens part early)")
    lines.append("")
    yes = {True: "yes", False: "no"}
    lines.append(f"real time (>= {r['real_time_steps_per_s']} steps/s): ours {yes[r['ours']['real_time']]}, "
                 f"text ended {yes[r['ours_text_ended']['real_time']]}")
    lines.append(f"peak memory (max RSS of the process, all models, less the bandwidth probe): {r['peak_rss_mb']:.0f} MiB; KV cache "
                 f"{r['kv_cache_mb']['ours']} MiB (ours: prompt + steps) vs {r['kv_cache_mb']['reference']} MiB "
                 f"({REFERENCE_SLOTS} slots)")
    return "\n".join(lines)


def run_eval(argv: list[str]):
    """``bench eval ARGS``: hand ``ARGS`` untouched to :func:`omni_lib.eval.bench_main` (imported only here)."""
    try:
        from omni_lib.eval import bench_main
    except ModuleNotFoundError as e:
        if e.name != "omni_lib.eval":
            raise
        raise SystemExit("python -m omni_lib.bench eval: omni_lib/eval.py is not in this checkout yet") from e
    return bench_main(argv)


@command("python -m omni_lib.bench")
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["eval"]:                        # before argparse, so that every option reaches eval as is
        out = run_eval(argv[1:])
        return out if isinstance(out, int) else 0
    p = argparse.ArgumentParser(prog="python -m omni_lib.bench", description=__doc__.split("\n\n")[0])
    add_debug(p)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("decode", help="decoding speed: ours vs plain vs reference-style, batch-parallel")
    d.add_argument("--preset", default="mini-omni", choices=sorted(PRESETS), help="config preset (mini-omni: the released shape; tiny: seconds)")
    d.add_argument("--dtype", choices=DTYPES, default="fp32",
                   help="our weights: fp32, bf16 (weights and activations) or int8 (weights; fp32 activations)")
    d.add_argument("--steps", type=int, default=64, help="decoding steps per run (default 64)")
    d.add_argument("--rounds", type=at_least(1), default=2, help="runs of each decoder, interleaved (default 2)")
    d.add_argument("--audio-seconds", type=positive(float), default=2.0, help="length of the spoken question (default 2 s)")
    d.add_argument("--threads", type=at_least(1), default=None, help="torch threads (default: torch's, i.e. the cores)")
    d.add_argument("--reference", choices=["both", "fp32", "same", "none"], default="both",
                   help="reference-style decode in fp32, in --dtype, both (default) or none")
    d.add_argument("--no-plain", action="store_true", help="skip the plain loop (fast=False)")
    d.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    bench_latency.add_arguments(sub.add_parser("latency", help="time to first audio of a spoken question, piece "
                                               "by piece, fp32 and fast, each piece against its own bound"))
    bench_train.add_arguments(sub.add_parser("train", help="one training step: time and memory measured, "
                                             "FLOPs and the paper's 8xA100 schedule computed"))
    sub.add_parser("eval", add_help=False, help="the evaluation benchmark (omni_lib.eval.bench_main; "
                   "'eval --help' for its options)")
    args = p.parse_args(argv)
    if args.command == "train":
        return bench_train.run(args)
    if args.command == "latency":
        return bench_latency.run(args)
    if args.steps < 4 or args.rounds < 1:
        p.error("--steps must be at least 4 (2 are spent ending the text) and --rounds at least 1")
    log = (lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True)) if not args.json else None
    busy = os.getloadavg()[0]
    if busy >= 1.0:
        print(f"warning: load average {busy:.1f}: other processes use the CPU, so timings will be slow and noisy "
              f"(and several threads wait for each other; --threads 1 suffers less)", file=sys.stderr)
    r = bench_decode(args.preset, args.dtype, args.steps, args.rounds, args.audio_seconds, args.threads,
                     args.reference, not args.no_plain, log=log)
    print(json.dumps(r) if args.json else format_table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
