"""Talk to a model from the command line: the text streams as it is generated, the speech is saved.

    python -m omni_lib.chat --ckpt checkpoint --audio question.wav --out answer.wav   # the release
    python -m omni_lib.chat --ckpt build/tiny/stage3/model --text "what is two plus three" --out answer.wav
    python -m omni_lib.chat --ckpt checkpoint --audio q.wav --no-batch-parallel       # plain A1A2

``--ckpt`` is a directory holding the released files (``lit_model.pth``, ``model_config.yaml``)
or one written by ``OmniModel.save_pretrained`` (the course's training saves its tokenizer
beside it). Speech in uses batch-parallel A1A2 by default; text in uses T1A2. At the end it
prints where the wait went (:mod:`omni_lib.latency`): audio load, Whisper, prefill, the 7 steps
that complete frame 0, the codec's right context, the first chunk's decode; then steps per second
and the real-time factor of the rest. The first chunk is one frame (``--chunk-frames`` sets the
later ones), so the first audio comes as early as the codec allows.

``--precision fast`` runs the fast path this CPU supports (:mod:`omni_lib.precision`: int8
decoder weights; bf16 prefill and bf16 Whisper with native bf16, else int8 Whisper). Its tokens
can part from the exact ones; ``fp32`` (the default) is the path that reproduces the release.

Wrong input fails before any model loads, in one line (exit 2): a missing ``--ckpt`` or ``--audio``,
an ``--out`` whose folder does not exist or whose extension soundfile cannot write. An answer with
no speech is an error too (exit 1, ``--out`` not written), not a silently missing file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from omni_lib.cli import CommandError, UsageError, add_debug, at_least, command, existing_path, writable_file
from omni_lib.precision import PRECISIONS

RELEASE_REPO = "gpt-omni/mini-omni"


def load_for_chat(ckpt: str, precision: str = "fp32"):
    """(model, tokenizer) from a release directory or one of ours, in ``precision`` (fp32 or fast)."""
    from omni_lib.model import OmniModel
    from omni_lib.precision import apply_precision
    from omni_lib.text import TextTokenizer

    d = Path(ckpt)
    if (d / "lit_model.pth").exists() or str(ckpt) == RELEASE_REPO:
        model = OmniModel.from_mini_omni(ckpt)
        tok = TextTokenizer.for_config(model.cfg, source=d if (d / "tokenizer.json").is_file() else None)
    elif (d / "model.safetensors").exists():
        model = OmniModel.from_pretrained(d, whisper=True)
        tok_file = d / "text_tokenizer.json"
        tok = TextTokenizer.load(tok_file, model.cfg) if tok_file.is_file() else TextTokenizer.for_config(model.cfg)
    else:
        raise UsageError(f"{ckpt}: not a model directory (expected lit_model.pth + model_config.yaml, or "
                         f"model.safetensors + config.json from OmniModel.save_pretrained)")
    return apply_precision(model, precision), tok


@command("python -m omni_lib.chat")
def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m omni_lib.chat", description="Ask a Mini-Omni model a question, by voice or text.")
    ap.add_argument("--ckpt", required=True, help="model directory (the release or ours)")
    q = ap.add_mutually_exclusive_group(required=True)
    q.add_argument("--audio", help="a spoken question (wav/flac, any rate)")
    q.add_argument("--text", help="a written question")
    ap.add_argument("--out", help="where to write the spoken answer (wav, 24 kHz); an answer without speech "
                                  "is an error (exit 1), nothing is written")
    ap.add_argument("--no-batch-parallel", action="store_true", help="speech in: plain A1A2 instead of [A1A2, A1T2]")
    ap.add_argument("--text-only", action="store_true", help="answer in text only (A1T2 / T1T2)")
    ap.add_argument("--max-steps", type=at_least(1), default=None, help="generated steps at most (default: to the context end)")
    ap.add_argument("--snac", default=None, help="SNAC models only: SNAC directory or hub id "
                                                 "(default: hubertsiuzdak/snac_24khz); a course-codec model "
                                                 "speaks through its own codec.pt")
    ap.add_argument("--random-snac", action="store_true", help="SNAC models, offline demo: random weights (noise!)")
    ap.add_argument("--chunk-frames", type=at_least(1), default=4, help="frames per streamed audio chunk after "
                                                                         "the first (which is one frame)")
    ap.add_argument("--precision", choices=PRECISIONS, default="fp32",
                    help="fp32: exact (default); fast: int8 weights, bf16 or int8 Whisper, as this CPU allows")
    add_debug(ap)
    args = ap.parse_args(argv)
    # everything a user can get wrong is checked before a model loads (a load takes seconds to minutes)
    if args.audio:
        existing_path(args.audio, "--audio", kind="file", hint="a spoken question (wav, flac, ogg, mp3)")
    if args.ckpt != RELEASE_REPO:
        existing_path(args.ckpt, "--ckpt", kind="dir", hint=f"a model folder, or {RELEASE_REPO} for the release")
    if args.out:
        import soundfile as sf

        writable_file(args.out, "--out")
        ext = Path(args.out).suffix.lstrip(".").upper()
        if ext not in sf.available_formats():
            raise UsageError(f"--out {args.out}: soundfile cannot write .{ext.lower() or '(no extension)'} files; "
                             f"use .wav or .flac")
        if args.text_only:
            raise UsageError("--out with --text-only: a text-only answer has no speech to write; drop one of them")
    if args.snac and args.random_snac:
        raise UsageError("--snac and --random-snac: give one of them")

    import soundfile as sf
    import torch

    from omni_lib.audio import load_audio
    from omni_lib.codec import speaking_codec
    from omni_lib.decode import AudioChunk, Generation, TextPiece, stream

    # the question is read first: an unreadable file fails before any model loads
    t = time.perf_counter()
    wave = load_audio(args.audio, target_rate=16_000) if args.audio else None
    audio_load_s = time.perf_counter() - t
    t0 = time.perf_counter()
    model, tok = load_for_chat(args.ckpt, args.precision)
    codec = speaking_codec(model.cfg, args.ckpt, snac=args.snac, random_snac=args.random_snac)
    load_s = time.perf_counter() - t0

    if args.audio:
        kw = {"audio": wave, "sample_rate": 16_000}
        task = "A1T2" if args.text_only else "A1A2"
    else:
        kw = {"text_ids": tok.encode(args.text)}
        task = "T1T2" if args.text_only else "T1A2"
    bp = task == "A1A2" and not args.no_batch_parallel

    chunks, first_text, result = [], None, None
    start = time.perf_counter()
    with torch.inference_mode():
        for item in stream(model, task, codec=codec, tokenizer=tok, chunk_frames=args.chunk_frames,
                           first_chunk_frames=1, max_new_steps=args.max_steps, batch_parallel=bp, **kw):
            if isinstance(item, TextPiece):
                first_text = first_text if first_text is not None else item.t
                print(item.text, end="", flush=True)
            elif isinstance(item, AudioChunk):
                chunks.append(item.audio)
            elif isinstance(item, Generation):
                result = item
    total = time.perf_counter() - start
    print()
    audio = torch.cat(chunks) if chunks else torch.zeros(0)
    if args.out and len(audio):
        sf.write(args.out, audio.numpy(), model.cfg.sample_rate)
    latency = result.latency
    latency.audio_load_s = audio_load_s if args.audio else 0.0
    report = {"task": task + (" batch-parallel" if bp else ""), "precision": model.precision.describe(),
              "steps": result.steps, "stop": result.stop, "load_s": load_s,
              "first_text_ms": None if first_text is None else first_text * 1000,
              "steps_per_s": result.steps / total if total else 0.0,
              "audio_s": len(audio) / model.cfg.sample_rate, "out": args.out if len(audio) else None,
              "latency": latency.as_dict()}
    print(f"[{report['task']}, {report['precision']}] {report['steps']} steps (stop: {report['stop']}), "
          f"{report['steps_per_s']:.1f} steps/s (real time needs {model.cfg.frames_per_second:.2f}); model load "
          f"{load_s:.1f} s; first text {_ms(first_text)}; {report['audio_s']:.2f} s of speech"
          + (f" -> {args.out}" if report["out"] else ""), file=sys.stderr)
    print(f"[latency] {latency.format()}", file=sys.stderr)
    if args.out and not len(audio):     # said, not silent: a script waiting for the file must not find nothing
        raise CommandError(f"the answer has no speech ({result.steps} steps, stop: {result.stop}); nothing "
                           f"written to {args.out}. Allow more steps (--max-steps) or ask again")
    return report


def _ms(t):
    return "-" if t is None else f"{t * 1000:.0f} ms"


if __name__ == "__main__":
    main()
