"""Precision: the exact fp32 path, or the fast path this CPU runs well.

A spoken answer's wait on a CPU is mostly arithmetic: Whisper encodes a 30 s window, the prefill
runs the prompt through 24 blocks, then every step reads all the weights once. ``fast`` makes
each of them cheaper in the way this CPU can:

* **int8 weights** for the decoder's blocks and head (:func:`~omni_lib.model.quantize_int8`): a
  step reads 4x fewer bytes. Every x86 CPU (fbgemm).
* **bf16 prefill**: the prompt's many positions go through a bf16 copy of each matrix; only on
  CPUs with native bf16 arithmetic (AMX, AVX512-BF16), where it is fast. Elsewhere bf16 is
  emulated and slower than fp32, so the prefill stays int8.
* **Whisper**: bf16 autocast with native bf16, else int8 linear layers.

The price is exactness: the logits move by a few percent, and greedy tokens part from the fp32
ones where two logits were close. ``fp32`` is the default everywhere, and the only path that
reproduces the released model's tokens.

    >>> p = resolve("fast", cpu={"bf16": False, "int8": True})
    >>> p.int8_weights, p.bf16_prefill, p.whisper
    (True, False, 'int8')
    >>> resolve("fast", cpu={"bf16": True, "int8": True}).describe()
    'fast: int8 decoder weights, bf16 prefill, bf16 Whisper'
    >>> resolve("fp32").describe()
    'fp32: exact'

    model = apply_precision(load_for_chat(...)[0], "fast")     # then generate / stream as usual
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

PRECISIONS = ("fp32", "fast")


def cpu_features() -> dict:
    """What this CPU runs natively: ``bf16`` matrix arithmetic, ``int8`` (fbgemm), and torch's
    vector ``capability`` (e.g. ``AVX2``, ``AVX512``). Read through torch's CPU probes."""
    probe = lambda name: bool(getattr(torch.cpu, name, lambda: False)())   # noqa: E731 (private, may vanish)
    return {"bf16": probe("_is_amx_tile_supported") or probe("_is_avx512_bf16_supported"),
            "int8": "fbgemm" in torch.backends.quantized.supported_engines,
            "vnni": probe("_is_vnni_supported"),
            "capability": torch.backends.cpu.get_cpu_capability()}


@dataclass(frozen=True)
class Precision:
    name: str
    int8_weights: bool = False     # decoder blocks and head through Int8Linear
    bf16_prefill: bool = False     # multi-position products from a bf16 copy of the weights
    whisper: str = "fp32"          # "fp32", "bf16" (autocast) or "int8" (linear layers)

    def describe(self) -> str:
        if not (self.int8_weights or self.bf16_prefill or self.whisper != "fp32"):
            return f"{self.name}: exact"
        parts = (["int8 decoder weights"] if self.int8_weights else []) + (
            ["bf16 prefill"] if self.bf16_prefill else []) + [f"{self.whisper} Whisper"]
        return f"{self.name}: " + ", ".join(parts)


EXACT = Precision("fp32")


def resolve(name: str | Precision, cpu: dict | None = None) -> Precision:
    """The :class:`Precision` that ``name`` means on this CPU (``cpu``: :func:`cpu_features`)."""
    if isinstance(name, Precision):
        return name
    if name not in PRECISIONS:
        raise ValueError(f"precision {name!r}: choose one of {PRECISIONS}")
    if name == "fp32":
        return EXACT
    cpu = cpu_features() if cpu is None else cpu
    return Precision("fast", int8_weights=cpu["int8"], bf16_prefill=cpu["bf16"] and cpu["int8"],
                     whisper="bf16" if cpu["bf16"] else ("int8" if cpu["int8"] else "fp32"))


def apply_precision(model, precision: str | Precision = "fast", cpu: dict | None = None):
    """Convert ``model`` (an OmniModel, and its attached Whisper) in place; returns it.

    ``fp32`` leaves it as it is. ``fast`` cannot be undone: load the model again for exact
    tokens. The chosen :class:`Precision` is kept as ``model.precision``.
    """
    from omni_lib.model import quantize_int8

    p = resolve(precision, cpu)
    done = getattr(model, "precision", None) or EXACT
    if done not in (EXACT, p):
        raise ValueError(f"this model is {done.describe()} already; load it again for {p.describe()}")
    if done == EXACT:
        if p.int8_weights:
            quantize_int8(model, bf16_prefill=p.bf16_prefill)
        if model.whisper is not None and p.whisper != "fp32":
            model.whisper.set_precision(p.whisper)
        model.__dict__["precision"] = p          # an attribute, not a module or a saved field
    return model


def fast_agreement(ckpt, data_root, *, n: int = 24, max_new_steps: int = 96, cpu: dict | None = None,
                   progress: bool = False) -> dict:
    """How often the fast path says what the exact one says, on the course corpus's held-out voices.

    ``ckpt`` (any model folder ``load_for_chat`` reads, the release included) is loaded twice, in
    fp32 and fast. ``n`` spoken questions (evenly spaced over ``test-voices``) are answered
    batch-parallel from their audio, each path through its own Whisper, and the same questions
    written (T1A2). Per set: the share of answers whose text is identical, whose every token is
    identical, and the mean share of leading steps on which all 8 tokens agree.
    """
    from pathlib import Path

    from tqdm.auto import tqdm

    from omni_lib.audio import load_audio
    from omni_lib.chat import load_for_chat
    from omni_lib.decode import generate
    from omni_lib.prepare import read_manifest

    rows = [r for r in read_manifest(Path(data_root)) if r["split"] == "test-voices"]
    rows = rows[:: max(1, len(rows) // n)][:n]
    exact, tok = load_for_chat(ckpt, "fp32")
    fast, _ = load_for_chat(ckpt, resolve("fast", cpu))
    sets = {"spoken": [], "written": []}
    for r in tqdm(rows, desc="fp32 vs fast", disable=not progress):
        wave = load_audio(Path(data_root) / r["question_audio"], target_rate=16_000)
        for name, kw in (("spoken", dict(audio=wave, batch_parallel=True)),
                         ("written", dict(text_ids=tok.encode(r["question"])))):
            task = "A1A2" if name == "spoken" else "T1A2"
            a, b = (generate(m, task, max_new_steps=max_new_steps, **kw) for m in (exact, fast))
            lead = next((k for k in range(min(a.steps, b.steps)) if not bool((a.tokens[:, k] == b.tokens[:, k]).all())),
                        min(a.steps, b.steps))
            sets[name].append((a.text_ids == b.text_ids, a.tokens.shape == b.tokens.shape and
                               bool((a.tokens == b.tokens).all()), lead / max(a.steps, 1)))
    out = {"precision": fast.precision.describe(), "n": len(rows)}
    for name, res in sets.items():
        out[name] = {"text_identical": sum(r[0] for r in res) / len(res),
                     "tokens_identical": sum(r[1] for r in res) / len(res),
                     "leading_steps_equal": sum(r[2] for r in res) / len(res)}
    return out
