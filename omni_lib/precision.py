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
