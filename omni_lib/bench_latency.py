"""How long does a person wait for the spoken answer? The time to first audio, piece by piece.

    python -m omni_lib.bench latency --preset mini-omni                      # fp32 and fast, ~3 min
    python -m omni_lib.bench latency --preset tiny --steps 16 --json         # seconds (the tests)

The preset's model, Whisper and codec with random weights (the same cost as the real ones) answer
a spoken question of ``--audio-seconds`` batch-parallel through :func:`omni_lib.decode.stream`
(the chat command's path: a one-frame first chunk, then ``--chunk-frames``), once per
``--precision`` (:mod:`omni_lib.precision`), round by round, each round on new audio (no feature
cache hit). Its :class:`~omni_lib.latency.Latency` gives the pieces, which add up to the first
audio; the round with the median first audio is reported. Beside it, in the same run, the
**reference-style** decode of :mod:`omni_lib.bench` (the release's way: fp32, a 2,048-slot cache,
every logit, a host sync per token; its first chunk is 4 frames decoded alone at step 10).

Every piece is set against **its own bound**, measured in the same run:

* Whisper and the prefill: their matrix FLOPs at the matrix-multiply rate this CPU reaches in the
  precision they run in (an encoder-shaped product: fp32, bf16 or int8);
* the steps: the weight bytes a step reads at the bandwidth of a STREAM-style read (a sum over a
  buffer far larger than the last-level cache, on every thread).

``fraction`` = bound / measured: 1 means the piece runs as fast as this machine can do its
arithmetic (or move its bytes); it means the same on Intel and AMD.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
import warnings

import torch

from omni_lib.cli import at_least, positive

# What the report names each piece, in order.
PIECES = ("audio_load_ms", "whisper_ms", "prefill_ms", "first_frame_ms", "right_context_ms", "codec_ms")
REFERENCE_FIRST_CHUNK_STEP = 10     # the release decodes frames 0..3 alone once step 10 is out


# ---------------------------------------------------------------------------------- probes
def stream_read_bandwidth(mib: int = 1024, tries: int = 5) -> float:
    """Bytes/s of a read over ``mib`` MiB on every thread (``torch.sum``, STREAM's "read" kernel):
    the rate at which this machine can stream weights from memory, median of ``tries``.

        >>> stream_read_bandwidth(8, tries=2) > 0
        True
    """
    buf = torch.ones(mib * 2**20 // 4)
    buf.sum()                                                        # first touch
    times = []
    for _ in range(tries):
        t = time.perf_counter()
        buf.sum()
        times.append(time.perf_counter() - t)
    return buf.numel() * 4 / statistics.median(times)


def matmul_rate(kind: str, rows: int = 1500, d_in: int = 768, d_out: int = 3072, tries: int = 3) -> float:
    """FLOP/s of one ``[rows, d_in] x [d_in, d_out]`` product in ``kind`` (``fp32``, ``bf16``, ``int8``:
    :class:`~omni_lib.model.Int8Linear`, inputs quantised per call), best of ``tries``. The default shape
    is Whisper-small's MLP on a 30 s window."""
    from omni_lib.model import Int8Linear

    lin = torch.nn.Linear(d_in, d_out)
    x = torch.randn(rows, d_in)
    if kind == "int8":
        f, x = Int8Linear(lin), x
    elif kind == "bf16":
        f, x = lin.to(torch.bfloat16), x.to(torch.bfloat16)
    elif kind == "fp32":
        f = lin
    else:
        raise ValueError(f"matmul kind {kind!r}: fp32, bf16 or int8")
    with torch.inference_mode():
        f(x)                                                         # warm-up, packing
        best = float("inf")
        for _ in range(tries):
            t = time.perf_counter()
            f(x)
            best = min(best, time.perf_counter() - t)
    return 2 * rows * d_in * d_out / best


# ---------------------------------------------------------------------------------- FLOPs
def whisper_flops(name: str, window_s: float) -> float:
    """Matrix FLOPs of Whisper ``name``'s encoder on one ``window_s`` window: the two convolutions,
    12·d² per position per block (q, k, v, out and the 4x MLP) and the T² attention products.

        >>> round(whisper_flops("small", 30.0) / 1e9)
        344
    """
    from omni_lib.whisper_weights import whisper_dims

    dm = whisper_dims(name)
    d, n_mels, T = dm.n_audio_state, dm.n_mels, int(window_s * 50)
    macs = n_mels * d * 3 * 2 * T + d * d * 3 * T                  # conv1 at 100 Hz, conv2 at 50 Hz
    macs += dm.n_audio_layer * (12 * d * d * T + 2 * T * T * d)
    return 2.0 * macs


def prefill_flops(cfg, positions: int, rows: int = 2) -> float:
    """Matrix FLOPs of a batch-parallel prefill of ``rows`` prompts of ``positions`` that differ only
    in their last position (the shared prefix runs once: see ``decode_steps``; causal attention:
    half the T² products), and the head on each row's last position (audio and text slices)."""
    from omni_lib.bench_train import matmul_params

    p = matmul_params(cfg)
    d_attn = cfg.n_head * cfg.head_size
    macs = p["blocks"] * (positions + rows - 1) + cfg.n_layer * d_attn * positions * (positions + rows - 1)
    macs += p["text_head"] + cfg.n_audio_layers * p["audio_head"]
    return 2.0 * macs


# ---------------------------------------------------------------------------------- runs
def build_parts(preset: str, seed: int = 0):
    """The preset's model (random weights, eoa muted so that it talks for every step), Whisper and codec."""
    from omni_lib.bench import build_model
    from omni_lib.codec import speaking_codec
    from omni_lib.config import OmniConfig
    from omni_lib.encoder import WhisperEncoder

    cfg = OmniConfig.from_preset(preset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                              # the random-weights warnings
        model = build_model(cfg, seed).attach_whisper(WhisperEncoder.from_config(cfg, random_init=True))
        codec = speaking_codec(cfg, random_snac=True) if cfg.codec == "snac" else _course_codec(cfg)
    return cfg, model, codec


def _course_codec(cfg):
    """A course codec fitted in a second on random audio (the same decode cost as the shipped one)."""
    from omni_lib.mel_codec import MelCodec

    g = torch.Generator().manual_seed(5)
    return MelCodec.fit([0.1 * torch.randn(24_000 * 4, generator=g) for _ in range(4)], 24_000,
                        codebook_size=64, cfg=cfg)


def time_stream(model, codec, wave: torch.Tensor, steps: int, chunk_frames: int):
    """One spoken answer through :func:`~omni_lib.decode.stream`; its :class:`~omni_lib.latency.Latency`."""
    from omni_lib.decode import Generation, stream
    from omni_lib.text import TextTokenizer

    tok = TextTokenizer.for_config(model.cfg)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")                              # random weights: specials inside frames
        for item in stream(model, "A1A2", codec=codec, tokenizer=tok, audio=wave, sample_rate=16_000,
                           chunk_frames=chunk_frames, first_chunk_frames=1, max_new_steps=steps,
                           batch_parallel=True):
            if isinstance(item, Generation):
                return item.latency


def time_reference(model, codec, wave: torch.Tensor) -> dict:
    """The release's path to its first audio, in the same pieces: fp32 Whisper, the reference-style
    prefill and steps 1..10, then its first 4-frame chunk decoded alone."""
    from omni_lib.bench import time_reference_style
    from omni_lib.codec import StreamingDecoder

    t = time.perf_counter()
    feats, lengths = model.audio_features([wave], 16_000)
    whisper_ms = (time.perf_counter() - t) * 1e3
    r = time_reference_style(model, feats[0, : int(lengths[0])], REFERENCE_FIRST_CHUNK_STEP + 1)
    n = model.cfg.n_audio_layers
    frames = torch.zeros(n, 4, dtype=torch.long)
    dec = StreamingDecoder(codec, chunk_frames=4, reference_mode=True)
    t = time.perf_counter()
    dec.push(frames)
    codec_ms = (time.perf_counter() - t) * 1e3
    p = {"audio_load_ms": 0.0, "whisper_ms": round(whisper_ms, 1), "prefill_ms": round(r["prefill_ms"], 1),
         "first_frame_ms": round(sum(r["step_ms"][:n]), 1),
         "right_context_ms": round(sum(r["step_ms"][n:REFERENCE_FIRST_CHUNK_STEP]), 1),
         "codec_ms": round(codec_ms, 1)}
    return p | {"first_audio_ms": round(sum(p.values()), 1)}


def _bounds(cfg, model, prompt: int, rates: dict, bandwidth: float, precision) -> dict:
    """Each piece's bound in ms on this machine, for the precision it runs in."""
    from omni_lib.bench import weight_bytes_per_step

    kinds = _kinds(precision)
    step_ms = weight_bytes_per_step(model) / bandwidth * 1e3
    n = cfg.n_audio_layers
    return {"whisper_ms": whisper_flops(cfg.whisper_model, cfg.whisper_window_s) / rates[kinds["whisper"]] * 1e3,
            "prefill_ms": prefill_flops(cfg, prompt) / rates[kinds["prefill"]] * 1e3,
            "first_frame_ms": n * step_ms, "step_ms": step_ms, "kinds": kinds}


def _kinds(precision) -> dict:
    """The matrix arithmetic Whisper and the prefill run in under ``precision``."""
    prefill = "bf16" if precision.bf16_prefill else ("int8" if precision.int8_weights else "fp32")
    return {"whisper": precision.whisper, "prefill": prefill}


def runs_of(models: dict) -> list[str]:
    return [name for name in models if name != "_reference"]


def bench_latency(preset: str = "mini-omni", precisions=("fp32", "fast"), *, audio_seconds: float = 2.0,
                  steps: int = 40, rounds: int = 2, chunk_frames: int = 4, reference: bool = True,
                  threads: int | None = None, seed: int = 0, log=None) -> dict:
    """Run the latency benchmark; every figure as a dict (what ``--json`` prints)."""
    from omni_lib.precision import apply_precision, cpu_features, resolve

    log = log or (lambda msg: None)
    if threads:
        torch.set_num_threads(threads)
    cpu = cpu_features()
    result = {"preset": preset, "audio_seconds": audio_seconds, "steps": steps, "rounds": rounds,
              "threads": torch.get_num_threads(), "torch": torch.__version__, "cpu": cpu | {"model": _cpu_name()},
              "load_average": [round(x, 2) for x in os.getloadavg()]}
    log(f"building the {preset} model, Whisper and codec (random weights)")
    cfg, base, codec = build_parts(preset, seed)
    models = {}
    for name in precisions:
        p = resolve(name, cpu)
        log(f"converting to {p.describe()}")
        models[name] = apply_precision(copy.deepcopy(base) if p.name != "fp32" else base, p, cpu)
    if reference and "fp32" not in models:
        models.setdefault("_reference", base)

    log("probing the machine: STREAM-style read bandwidth, matrix-multiply rates")
    kinds = {"fp32"} | {k for name in runs_of(models) for k in _kinds(models[name].precision).values()}
    rates = {k: matmul_rate(k) for k in sorted(kinds)}
    bandwidth = stream_read_bandwidth(64 if preset == "tiny" else 1024)
    result["matmul_gflop_s"] = {k: round(v / 1e9, 1) for k, v in rates.items()}
    result["read_bandwidth_gb_s"] = round(bandwidth / 1e9, 2)

    g = torch.Generator().manual_seed(seed + 1)
    new_wave = lambda: 0.1 * torch.randn(int(16_000 * audio_seconds), generator=g)   # noqa: E731 (no cache hits)
    for name in runs_of(models):                                    # warm-up: first-call costs, packing
        time_stream(models[name], codec, new_wave(), 12, chunk_frames)
    runs = {name: [] for name in runs_of(models)}
    refs = []
    for r in range(rounds):
        for name in runs:
            log(f"round {r + 1}/{rounds}: {name}")
            runs[name].append(time_stream(models[name], codec, new_wave(), steps, chunk_frames))
        if reference:
            log(f"round {r + 1}/{rounds}: reference-style (fp32)")
            refs.append(time_reference(models.get("fp32", models.get("_reference")), codec, new_wave()))

    prompt = int(audio_seconds * 50) + 1 + 3
    for name, lats in runs.items():
        lat = sorted(lats, key=lambda x: x.pieces_ms().get("first_audio_ms", float("inf")))[len(lats) // 2]
        d = lat.as_dict()
        b = _bounds(cfg, models[name], prompt, rates, bandwidth, models[name].precision)
        d["precision"] = models[name].precision.describe()
        d["first_audio_ms_rounds"] = [x.pieces_ms().get("first_audio_ms") for x in lats]
        d["bound_ms"] = {k: round(b[k], 1) for k in ("whisper_ms", "prefill_ms", "first_frame_ms")}
        d["fraction_of_bound"] = {k: round(b[k] / d[k], 3) for k in ("whisper_ms", "prefill_ms", "first_frame_ms")
                                  if d.get(k)}
        d["fraction_of_bound"]["steps_after_first_audio"] = round(d["steps_per_s_after_first_audio"]
                                                                  * b["step_ms"] / 1e3, 3)
        d["bound_kinds"] = b["kinds"]
        d["real_time"] = d["steps_per_s_after_first_audio"] >= cfg.frames_per_second
        result[name] = d
    if refs:
        result["reference_fp32"] = sorted(refs, key=lambda x: x["first_audio_ms"])[len(refs) // 2]
        for name in runs:
            result[name]["speedup_vs_reference_fp32"] = round(result["reference_fp32"]["first_audio_ms"]
                                                              / result[name]["first_audio_ms"], 2)
    result["real_time_steps_per_s"] = round(cfg.frames_per_second, 2)
    return result


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "unknown")
    except OSError:
        import platform

        return platform.processor() or "unknown"


def format_table(r: dict) -> str:
    """The result as a readable report."""
    names = [k for k in r if isinstance(r[k], dict) and "first_audio_ms" in r[k]]
    lines = [f"time to first audio: preset {r['preset']}, a {r['audio_seconds']:g} s spoken question, batch-parallel, "
             f"{r['rounds']} rounds (median reported), {r['threads']} threads, torch {r['torch']}, "
             f"load average {r['load_average']}",
             f"CPU {r['cpu']['model']} ({r['cpu']['capability']}, native bf16: {r['cpu']['bf16']}, VNNI: "
             f"{r['cpu']['vnni']}); matrix multiply " + ", ".join(f"{k} {v:g}" for k, v in r["matmul_gflop_s"].items())
             + f" GFLOP/s; STREAM-style read {r['read_bandwidth_gb_s']} GB/s", "",
             f"{'ms':<22}" + "".join(f"{n:>16}" for n in names)]
    for piece in PIECES + ("first_audio_ms",):
        cells = []
        for n in names:
            v, frac = r[n].get(piece), r[n].get("fraction_of_bound", {}).get(piece)
            cells.append("-" if v is None else f"{v:.0f}" + (f" ({frac:.2f})" if frac else ""))
        lines.append(f"{piece[:-3].replace('_', ' '):<22}" + "".join(f"{c:>16}" for c in cells))
    lines.append("")
    for n in names:
        d = r[n]
        if "precision" not in d:
            continue
        lines.append(f"{n}: {d['precision']}; after the first audio {d['steps_per_s_after_first_audio']:.1f} steps/s "
                     f"(real time {r['real_time_steps_per_s']}: {'yes' if d['real_time'] else 'no'}; "
                     f"{d['fraction_of_bound']['steps_after_first_audio']:.2f} of the bandwidth bound), real-time "
                     f"factor {d['real_time_factor_after_first_audio']:.2f}; first audio over the rounds "
                     f"{d['first_audio_ms_rounds']}"
                     + (f"; {d['speedup_vs_reference_fp32']:.2f}x sooner than reference-style" if
                        "speedup_vs_reference_fp32" in d else ""))
    lines.append("(x.xx) = the piece's bound / its time: Whisper and prefill FLOPs at the matrix-multiply rate of "
                 "their precision, steps' weight bytes at the read bandwidth")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from omni_lib.config import PRESETS
    from omni_lib.precision import PRECISIONS

    p.add_argument("--preset", default="mini-omni", choices=sorted(PRESETS),
                   help="config preset (mini-omni: the released shape; tiny: seconds)")
    p.add_argument("--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                   help="precisions to measure (default: fp32 fast)")
    p.add_argument("--audio-seconds", type=positive(float), default=2.0, help="the spoken question (default 2 s)")
    p.add_argument("--steps", type=at_least(12), default=40, help="steps decoded per answer (default 40)")
    p.add_argument("--rounds", type=at_least(1), default=2, help="answers per precision, interleaved (default 2)")
    p.add_argument("--chunk-frames", type=at_least(1), default=4, help="frames per chunk after the first")
    p.add_argument("--no-reference", action="store_true", help="skip the reference-style decode")
    p.add_argument("--threads", type=at_least(1), default=None, help="torch threads (default: the cores)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    log = None if args.json else (lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))
    r = bench_latency(args.preset, tuple(dict.fromkeys(args.precision)), audio_seconds=args.audio_seconds,
                      steps=args.steps, rounds=args.rounds, chunk_frames=args.chunk_frames,
                      reference=not args.no_reference, threads=args.threads, log=log)
    print(json.dumps(r) if args.json else format_table(r))
    return 0
