"""The training recipe as data: which parameters train, on which tasks, with which LR (spec §8).

"Any Model Can Talk" adds speech to a text LM in three stages, never touching Whisper:

    stage 1  modality alignment   LM frozen; train the adapter and the audio codes  ASR, TTS
    stage 2  adaption training    adapter frozen; train the LM (text + audio rows)  ASR, A1T2, T1T2
    stage 3  multimodal tuning    everything but Whisper                            all six tasks

The ``tiny`` preset adds a stage 0 that first teaches a randomly initialised LM the course's
text domain (T1T2 only): that is the "any model" which then learns to talk. It departs from the
paper in two places. Its stage 3 feeds back the model's own guesses for half of the audio codes
(``self_feed``, scheduled sampling: trained on right codes only, the small model derailed after its
first wrong code; docs/COURSE_CODEC.md). And its adapter keeps training in stage 2: Qwen2 can
already read, so the paper's stage 1 aligns the adapter against a frozen reader; a 3-layer LM that
only knows the domain's questions cannot transcribe, so its stage 1 cannot align the adapter alone
(measured: held-out WER above 100 % after stage 1; stage-2 loss at step 550 is 0.23 with the
adapter training, 0.60 with it frozen).

    >>> s = STAGES["tiny"][1]
    >>> s.trains, s.tasks
    (('adapter', 'audio_codes'), {'ASR': 1.0, 'TTS': 1.0})
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

# "rows" = rows of the tied embedding/head table. "audio_codes" = the 4,096 code rows of each audio
# layer without its specials (pad_a, eoa, ...): text-only inputs average in the pad_a rows, so
# freezing them in stage 1 leaves every text task bit-identical while the model learns to hear and speak.
PARTS = ("adapter", "text_rows", "audio_rows", "audio_codes", "blocks")


@dataclass(frozen=True)
class Stage:
    name: str
    trains: tuple[str, ...]          # which PARTS get gradients
    tasks: dict                      # task -> sampling weight
    steps: int                       # optimizer steps
    lr: float                        # peak LR (cosine to min_lr after warm-up)
    min_lr: float
    warmup: int
    global_batch: int                # examples per optimizer step, over all ranks and accumulation
    adapter_lr: float | None = None  # a separate peak LR for the adapter (the paper: 1e-3 in stage 1)
    weight_decay: float = 0.0
    self_feed: float = 0.0           # share of fed-back audio codes replaced by the model's own guesses
                                     # (parallel scheduled sampling, batches.feed_own_predictions)


def _stage(name, trains, tasks, **kw) -> Stage:
    return Stage(name, tuple(trains), dict(tasks), **kw)


ALL_TASKS = {"ASR": 1.0, "TTS": 1.0, "A1T2": 1.0, "T1T2": 1.0, "A1A2": 1.0, "T1A2": 1.0}

STAGES: dict[str, dict[int, Stage]] = {
    # The paper's setup on 8×A100: global batch 192; stages of ~15k, ~25k, ~55k steps (reported
    # ranges 10–20k, 20–30k, 50–60k); cosine LR 4e-4 -> 4e-6, the ASR adapter at 1e-3 in stage 1.
    "mini-omni": {
        1: _stage("modality alignment", ("adapter", "audio_codes"), {"ASR": 1.0, "TTS": 1.0},
                  steps=15_000, lr=4e-4, min_lr=4e-6, warmup=500, global_batch=192, adapter_lr=1e-3),
        2: _stage("adaption training", ("text_rows", "audio_rows", "blocks"), {"ASR": 1.0, "A1T2": 2.0, "T1T2": 1.0},
                  steps=25_000, lr=4e-4, min_lr=4e-6, warmup=500, global_batch=192),
        3: _stage("multimodal fine-tuning", PARTS, ALL_TASKS, steps=55_000, lr=4e-4, min_lr=4e-6, warmup=500,
                  global_batch=192),
    },
    # Laptop CPU: minutes per stage on the course corpus (measured numbers in the README). Stage 3
    # weighs up spoken questions (A1T2, and A1A2 whose text row answers them too) and spoken answers
    # (T1A2, TTS: learning 227 answers' codes takes many passes). Stage 3 alone, 1 thread, layer-0
    # codes / spoken QA: 1,100 steps 96 / 95 %; 1,000 steps 95 / 95 %; T1T2, T1A2, TTS 1 each
    # 93 / 97 %; A1T2 1.5, T1A2 2, TTS 2.5 96 / 84 % (README, "Training"). At 700 steps, peak LR
    # 3e-3 gave spoken QA 88 %; 2e-3 gave 83 %. self_feed: half of the fed-back audio codes are the
    # model's own guesses (scheduled sampling): without it the model derailed after its first wrong
    # code (by ear, 1 thread, one stage-2 model: T1A2 62 -> 83 %, spoken QA 39 -> 70 %; all guesses: 62 / 49 %).
    "tiny": {
        0: _stage("text LM pretraining", ("text_rows", "blocks"), {"T1T2": 1.0},
                  steps=800, lr=3e-3, min_lr=3e-4, warmup=20, global_batch=32),
        1: _stage("modality alignment", ("adapter", "audio_codes"), {"ASR": 1.0, "TTS": 1.0},
                  steps=150, lr=3e-3, min_lr=3e-4, warmup=20, global_batch=16, adapter_lr=3e-3),
        2: _stage("adaption training", ("adapter", "text_rows", "audio_rows", "blocks"),   # adapter: see above
                  {"ASR": 1.0, "A1T2": 2.0, "T1T2": 0.5}, steps=400, lr=2e-3, min_lr=2e-4, warmup=20, global_batch=16),
        3: _stage("multimodal fine-tuning", PARTS, {"ASR": 0.5, "A1T2": 2.0, "T1T2": 0.5, "A1A2": 1.5, "T1A2": 1.5,
                                                    "TTS": 2.0},
                  steps=1100, lr=3e-3, min_lr=3e-4, warmup=20, global_batch=32, self_feed=0.5),
    },
}


def get_stage(preset: str, stage: int) -> Stage:
    if preset not in STAGES:
        raise KeyError(f"no training recipe for preset {preset!r}; recipes exist for {sorted(STAGES)}")
    if stage not in STAGES[preset]:
        raise KeyError(f"preset {preset!r} has stages {sorted(STAGES[preset])}, not {stage}")
    return STAGES[preset][stage]


def apply_stage(model, stage: Stage) -> list[dict]:
    """Freeze what ``stage`` does not train; return AdamW parameter groups for what it does.

    The tied table holds both text and audio rows: a gradient hook zeroes the rows of the frozen
    part, and the table gets no weight decay, so frozen rows stay bit-identical.
    """
    cfg = model.cfg
    if not cfg.tie_word_embeddings and {"text_rows", "audio_rows"} & set(stage.trains):
        # checked before anything is frozen: an untied head would need its own row masks
        raise ValueError("stages assume the tied head of Mini-Omni (tie_word_embeddings=True)")
    clear_stage(model)
    model.requires_grad_(False)
    table = model.backbone.get_input_embeddings().weight
    groups = []
    if "blocks" in stage.trains:
        blocks = [p for n, p in model.backbone.named_parameters() if p is not table]
        if model.tts_adapter is not None:
            blocks += list(model.tts_adapter.parameters())
        for p in blocks:
            p.requires_grad_(True)
        groups.append({"params": blocks, "weight_decay": stage.weight_decay, "name": "blocks"})
    if "adapter" in stage.trains:
        params = list(model.adapter.parameters())
        for p in params:
            p.requires_grad_(True)
        groups.append({"params": params, "weight_decay": stage.weight_decay, "name": "adapter",
                       "lr": stage.adapter_lr or stage.lr})
    keep = table_rows(cfg, stage.trains, table.shape[0])                # (V,) 1 = this row trains
    model.__dict__["_trained_rows"] = keep
    if keep.any():
        table.requires_grad_(True)
        if not keep.all():
            mask = keep.to(table.dtype).to(table.device)[:, None]
            handle = table.register_hook(lambda g: g * mask)
            model.__dict__.setdefault("_stage_hooks", []).append(handle)
        groups.append({"params": [table], "weight_decay": 0.0, "name": "table"})
    for g in groups:
        g.setdefault("lr", stage.lr)
        g["peak_lr"] = g["lr"]
    return groups


def table_rows(cfg, trains, n_rows: int) -> torch.Tensor:
    """``[V]`` bool: which rows of the tied table the parts ``trains`` update.

        >>> from omni_lib.config import OmniConfig
        >>> cfg = OmniConfig.from_preset("tiny")
        >>> keep = table_rows(cfg, ("audio_codes",), cfg.padded_vocab_size)
        >>> int(keep.sum()) == 7 * cfg.audio_codebook_size, bool(keep[cfg.audio_start + cfg.audio_codebook_size + 1])
        (True, False)

    (the second: ``pad_a`` of layer 0 stays frozen)
    """
    keep = torch.zeros(n_rows, dtype=torch.bool)
    if "text_rows" in trains:
        keep[: cfg.text_vocab_size] = True
    if "audio_rows" in trains:
        keep[cfg.text_vocab_size:] = True
    if "audio_codes" in trains:
        for j in range(cfg.n_audio_layers):
            start = cfg.audio_start + j * cfg.audio_vocab_size
            keep[start: start + cfg.audio_codebook_size] = True
    return keep


def clear_stage(model) -> None:
    """Remove the gradient hooks a previous :func:`apply_stage` installed."""
    for h in model.__dict__.pop("_stage_hooks", []):
        h.remove()
    model.__dict__.pop("_trained_rows", None)


def trainable_summary(model) -> dict[str, int]:
    """Trainable parameter counts by part after :func:`apply_stage` (for the notebook's freeze table)."""
    cfg, table = model.cfg, model.backbone.get_input_embeddings().weight
    keep = model.__dict__.get("_trained_rows", torch.zeros(table.shape[0], dtype=torch.bool))
    return {"adapter": sum(p.numel() for p in model.adapter.parameters() if p.requires_grad),
            "blocks": sum(p.numel() for p in model.backbone.parameters() if p.requires_grad and p is not table),
            "text rows": int(keep[: cfg.text_vocab_size].sum()) * cfg.n_embd,
            "audio rows": int(keep[cfg.text_vocab_size:].sum()) * cfg.n_embd}
