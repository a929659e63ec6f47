"""The course's measurements of a trained model: ASR WER, spoken/text QA accuracy, audio-code accuracy.

All decode in batches with :func:`omni_lib.decode.generate_batch` (greedy, as the release does)
and compare normalised text: lower case, no punctuation, single spaces (the ``basic`` normaliser
of :mod:`omni_lib.wer`; ``python -m omni_lib.eval`` scores with Whisper's, as the papers do).

    >>> normalise("  Seven plus five, is TWELVE. ")
    'seven plus five is twelve'
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import torch

from omni_lib.batches import Example, collate
from omni_lib.decode import Request, generate_batch
from omni_lib.wer import basic_normalise, word_errors


normalise = basic_normalise


def _answers(model, tokenizer, requests: list[Request], batch_size: int, max_new_steps: int) -> list[str]:
    out = []
    for i in range(0, len(requests), batch_size):
        for g in generate_batch(model, requests[i:i + batch_size], max_new_steps=max_new_steps):
            out.append(tokenizer.decode([t for t in g.text_ids if t < tokenizer.n_text]))
    return out


@torch.inference_mode()
def asr_wer(model, examples: Sequence[Example], tokenizer, *, batch_size: int = 16, max_new_steps: int = 48) -> dict:
    """Corpus WER of the ASR task on ``examples`` (features in, ``answer`` = transcript ids)."""
    refs = [normalise(tokenizer.decode(e.answer)) for e in examples]
    hyps = _answers(model, tokenizer, [Request("ASR", e.features) for e in examples], batch_size, max_new_steps)
    return {"wer": word_errors(refs, hyps)["wer"], "n": len(refs),
            "samples": list(zip(refs, hyps))[:5]}


@torch.inference_mode()
def qa_accuracy(model, examples: Sequence[Example], tokenizer, *, task: str = "A1T2", batch_size: int = 16,
                max_new_steps: int = 48) -> dict:
    """Exact-match accuracy of text answers: ``A1T2`` (spoken question) or ``T1T2`` (written question)."""
    if task == "A1T2":
        reqs = [Request("A1T2", e.features) for e in examples]
    else:
        reqs = [Request("T1T2", text_ids=tuple(e.question)) for e in examples]
    hyps = _answers(model, tokenizer, reqs, batch_size, max_new_steps)
    refs = [normalise(tokenizer.decode(e.answer)) for e in examples]
    right = [normalise(h) == r for h, r in zip(hyps, refs)]
    return {"accuracy": sum(right) / max(1, len(right)), "n": len(right), "samples": list(zip(refs, hyps))[:5],
            "wrong": [(r, h) for r, h, ok in zip(refs, hyps, right) if not ok][:5]}


@torch.inference_mode()
def code_accuracy(model, examples: Sequence[Example], *, batch_size: int = 16) -> dict:
    """Teacher-forced accuracy of each audio layer on the answer's SNAC codes, beside the baseline
    of always predicting that layer's most common code (random-weight codecs make that high)."""
    cfg = model.cfg
    hits, total = torch.zeros(cfg.n_audio_layers), torch.zeros(cfg.n_audio_layers)
    counts = [Counter() for _ in range(cfg.n_audio_layers)]
    device = next(model.parameters()).device
    for i in range(0, len(examples), batch_size):
        batch = collate(examples[i:i + batch_size], cfg)
        feats = batch.get("features")
        out = model(batch["ids"].to(device), None if feats is None else feats.to(device),
                    None if feats is None else batch["lengths"].to(device))
        pred = out.audio_logits.argmax(-1).cpu()                           # (B, 7, T)
        for j in range(cfg.n_audio_layers):
            tgt, m = batch["targets"][:, j], batch["mask"][:, j]
            code = m & (tgt >= 0) & (tgt < cfg.audio_codebook_size)          # codes only, not pads or eoa
            hits[j] += (pred[:, j][code] == tgt[code]).sum()
            total[j] += code.sum()
            counts[j].update(tgt[code].tolist())
    acc = (hits / total.clamp(min=1)).tolist()
    base = [(c.most_common(1)[0][1] / sum(c.values())) if c else 0.0 for c in counts]
    return {"per_layer": acc, "baseline": base, "mean": sum(acc) / len(acc), "n_codes": int(total.sum())}
