"""Training examples: 8-row inputs, delayed 8-row targets and loss masks for every task (spec §8).

A prompt of P positions is followed by the answer's S steps, teacher-forced: step s is predicted
at position ``P - 1 + s`` and fed back at ``P + s``. The answer grid is built aligned and then
delayed (:mod:`omni_lib.delay`), so audio targets carry the same lag as generation::

    position:  ... P-1    P      P+1  ...            (inputs: prompt | fed-back steps 0..S-2)
    target:         step0  step1  step2 ...           (text id, and per audio layer a raw value)

    speech answer (A1A2, T1A2, TTS)   audio j: pad_a x (j+1), F frames, eoa, pad_a ...
                                       text:    t0 .. tn-1, eot, pad_t ...           S = F + 8
    text answer (A1T2, ASR, T1T2)     text:    t0 .. tn-1, eot                     S = n + 1
                                       audio rows fed pad_a; not in the loss

Loss masks: ASR and text answers train the text row only; TTS the audio rows only; speech
answers both. TTS is a T1A2 prompt whose answer speaks the prompt's own text.

    >>> from omni_lib.config import OmniConfig
    >>> cfg = OmniConfig.from_preset("tiny")
    >>> ex = Example("T1T2", question=[5, 6], answer=[7])
    >>> ids, targets, mask = make_example(ex, cfg)
    >>> ids.shape, int(mask[7].sum()), int(mask[:7].sum())       # prompt 5 + fed step 1; 2 text targets
    (torch.Size([8, 6]), 2, 0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from omni_lib.config import OmniConfig
from omni_lib.delay import delay
from omni_lib.tokens import SPEECH_IN_TASKS, TEXT_ROW, TokenSpace, build_input

TRAIN_TASKS = ("A1A2", "A1T2", "ASR", "T1A2", "T1T2", "TTS")
SPEECH_ANSWER = ("A1A2", "T1A2", "TTS")
LOSS_ROWS = {  # (text row trained, audio rows trained)
    "ASR": (True, False), "A1T2": (True, False), "T1T2": (True, False),
    "TTS": (False, True), "A1A2": (True, True), "T1A2": (True, True),
}
IGNORE = -100


@dataclass
class Example:
    """One training example. Speech in: ``features [L, D]`` (Whisper, cached); text in: ``question`` ids."""
    task: str
    question: Sequence[int] = ()
    answer: Sequence[int] = ()                 # text ids of the answer (the transcript for ASR)
    frames: torch.Tensor | None = None         # [7, F] SNAC codes of the spoken answer
    features: torch.Tensor | None = None       # [L, D_whisper]
    meta: dict = field(default_factory=dict)   # id, voice, split ... (for reports)


def answer_grid(ex: Example, cfg: OmniConfig) -> torch.Tensor:
    """``[8, S]`` step targets: raw audio values in rows 0..6, text ids in row 7."""
    ts, n = TokenSpace(cfg), cfg.n_audio_layers
    text = list(ex.answer) + [ts.eot]
    if ex.task not in SPEECH_ANSWER:
        grid = torch.full((n + 1, len(text)), ts.pad_a)
        grid[TEXT_ROW] = torch.tensor(text)
        return grid
    if ex.frames is None or ex.frames.shape[1] == 0:
        raise ValueError(f"{ex.task} example {ex.meta.get('id', '')} has no answer frames")
    Fr = ex.frames.shape[1]
    length = max(Fr + 1, len(text))                                      # aligned: frames + eoa, text + eot
    aligned = torch.full((n + 1, length), ts.pad_a)
    aligned[:n, :Fr] = ex.frames
    aligned[:n, Fr] = ts.eoa
    aligned[TEXT_ROW] = ts.pad_t
    aligned[TEXT_ROW, : len(text)] = torch.tensor(text)
    pads = torch.tensor([ts.pad_a] * n + [ts.pad_t])
    return delay(aligned, cfg, pad=pads)                                 # (8, length + 7)


def make_example(ex: Example, cfg: OmniConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(ids [8, T], targets [8, T], mask [8, T])`` with ``T = P + S - 1``."""
    if ex.task not in TRAIN_TASKS:
        raise ValueError(f"unknown training task {ex.task!r}; choose from {TRAIN_TASKS}")
    ts, n = TokenSpace(cfg), cfg.n_audio_layers
    prompt_task = "T1A2" if ex.task == "TTS" else ex.task
    if prompt_task in SPEECH_IN_TASKS:
        if ex.features is None:
            raise ValueError(f"{ex.task} example {ex.meta.get('id', '')} has no Whisper features")
        prompt = build_input(prompt_task, cfg, n_audio=len(ex.features))
    else:
        prompt = build_input(prompt_task, cfg, text_ids=ex.question if ex.task != "TTS" else ex.answer)
    grid = answer_grid(ex, cfg)                                          # (8, S)
    P, S = prompt.shape[1], grid.shape[1]
    fed = grid[:, : S - 1].clone()
    if ex.task in SPEECH_ANSWER:
        fed[:n] = ts.shift_audio(fed[:n])
    else:
        fed[:n] = torch.tensor([ts.audio_id(ts.pad_a, i) for i in range(n)])[:, None]
    ids = torch.cat([prompt, fed], dim=1)                                # (8, P + S - 1)
    targets = torch.full_like(ids, IGNORE)
    targets[:, P - 1:] = grid
    text_on, audio_on = LOSS_ROWS[ex.task]
    mask = torch.zeros_like(ids, dtype=torch.bool)
    # Audio rows: every answer step, pads included: generation feeds back whatever the model says
    # before a layer starts and after its eoa, so it must learn to say pad_a there.
    mask[:n, P - 1:] = audio_on
    # Text row: the tokens and the eot; the pad_t after it is forced at generation, nothing to learn.
    mask[TEXT_ROW, P - 1:] = text_on & (grid[TEXT_ROW] != ts.pad_t)
    return ids, targets, mask


def example_length(task: str, *, n_audio: int = 0, n_question: int = 0, n_answer: int = 0,
                   n_frames: int = 0) -> int:
    """Positions of a training example (:func:`omni_lib.batches.make_example`'s ``T``), from sizes alone.

    Prompt: ``L + 3`` with speech in (input, L features, eot/eoa, answer), ``n + 3`` with text in
    (TTS: the answer's own text). Answer: ``n + 1`` steps of text, or ``max(F + 1, n + 1) + 7``
    with speech (frames + eoa, delayed by 7). The last step is predicted, never fed::

        >>> example_length("T1T2", n_question=2, n_answer=1)      # 5 + 2 - 1
        6
        >>> example_length("A1A2", n_audio=51, n_answer=10, n_frames=24)
        85
    """
    speech_in = task in SPEECH_IN_TASKS
    prompt = n_audio + 3 if speech_in else (n_answer if task == "TTS" else n_question) + 3
    steps = max(n_frames + 1, n_answer + 1) + 7 if task in SPEECH_ANSWER else n_answer + 1
    return prompt + steps - 1


def positions(ex: Example) -> int:
    """``T`` of :func:`make_example` for ``ex``, without building it (to group a batch by length)."""
    return example_length(ex.task, n_audio=0 if ex.features is None else len(ex.features), n_question=len(ex.question),
                          n_answer=len(ex.answer), n_frames=0 if ex.frames is None else ex.frames.shape[1])


def collate(examples: Sequence[Example], cfg: OmniConfig) -> dict:
    """Right-pad a batch: ``ids/targets/mask [B, 8, T]``, ``features [B, L, D]``, ``lengths [B]``."""
    ts = TokenSpace(cfg)
    made = [make_example(ex, cfg) for ex in examples]
    T = max(ids.shape[1] for ids, _, _ in made)
    if T > cfg.block_size:
        raise ValueError(f"an example of {T} positions exceeds block_size {cfg.block_size}")
    pad_col = torch.tensor([ts.audio_id(ts.pad_a, i) for i in range(cfg.n_audio_layers)] + [ts.pad_t])
    ids = torch.stack([torch.cat([i, pad_col[:, None].expand(-1, T - i.shape[1])], 1) for i, _, _ in made])
    targets = torch.stack([F.pad(t, (0, T - t.shape[1]), value=IGNORE) for _, t, _ in made])
    mask = torch.stack([F.pad(m, (0, T - m.shape[1]), value=False) for _, _, m in made])
    feats = [ex.features for ex in examples if ex.features is not None and (ex.task in SPEECH_IN_TASKS)]
    batch = {"ids": ids, "targets": targets, "mask": mask, "tasks": [ex.task for ex in examples]}
    if feats:
        D, L = feats[0].shape[1], max(len(f) for f in feats)
        batch["features"] = torch.zeros(len(examples), L, D)
        batch["lengths"] = torch.zeros(len(examples), dtype=torch.long)
        for b, ex in enumerate(examples):
            if ex.task in SPEECH_IN_TASKS:
                batch["features"][b, : len(ex.features)] = ex.features
                batch["lengths"][b] = len(ex.features)
    return batch


def loss_terms(model, batch: dict, *, head_dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Per-example text and audio cross-entropies, computed only where the mask says.

    The head is applied to masked positions only and only to the columns each row needs (the text
    slice, or one audio layer's slice): the same numbers as slicing full logits, far cheaper.
    ``head_dtype=torch.bfloat16`` runs just those head products in bf16 (the cross-entropy stays
    fp32): on CPUs with AMX that made a 16-example TTS micro-batch 1.3x faster, while bf16 for the
    blocks is slower there (its attention backward); ``train._precision`` chooses.
    Returns ``{"text": [B], "audio": [B], "loss": [B]}`` (mean over each example's tokens).
    """
    if getattr(model, "tts_adapter", None) is not None:
        raise NotImplementedError("loss_terms trains the tied head; a model with a TTS adapter "
                                  "(tts_adapter_layers > 0) has its own audio head, which it does not cover")
    cfg = model.cfg
    device = next(model.parameters()).device
    ids, targets, mask = batch["ids"].to(device), batch["targets"].to(device), batch["mask"].to(device)
    feats = batch.get("features")
    # text_rows=[] / audio_rows=[]: no logits in the forward; the full [B, T, V] product (the whole
    # table, every position) would be thrown away, and it was about half of a step (146 ms of a
    # 16 x 97 ASR micro-batch's ~300 ms forward and backward on 2 cores).
    out = model(ids, None if feats is None else feats.to(device),
                None if feats is None else batch["lengths"].to(device), text_rows=[], audio_rows=[])
    h = out.hidden                                                       # (B, T, d)
    W = model.lm_head.weight
    B = ids.shape[0]
    sums = {"text": torch.zeros(B, device=device), "audio": torch.zeros(B, device=device)}
    counts = {"text": torch.zeros(B, device=device), "audio": torch.zeros(B, device=device)}
    # One split of the head into [text | gap | audio 0 | ... | audio 6 | tail]: its backward builds
    # one full-size gradient, where eight W[a:b] slices would each zero-fill and add one (~12 % of a step).
    Vt, Va, start = cfg.text_vocab_size, cfg.audio_vocab_size, cfg.audio_start
    end = start + cfg.n_audio_layers * Va
    parts = W.split([Vt, start - Vt] + [Va] * cfg.n_audio_layers + [W.shape[0] - end])
    rows = [("text", TEXT_ROW, parts[0])] + [("audio", j, parts[2 + j]) for j in range(cfg.n_audio_layers)]
    for kind, row, Wr in rows:
        m = mask[:, row]                                                 # (B, T)
        if not m.any():
            continue
        b_idx, t_idx = m.nonzero(as_tuple=True)
        hs = h[b_idx, t_idx]                                             # (N, d)
        if head_dtype is not None:
            hs, Wr = hs.to(head_dtype), Wr.to(head_dtype)
        logits = hs @ Wr.T                                               # (N, slice width)
        ce = F.cross_entropy(logits.float(), targets[b_idx, row, t_idx], reduction="none")
        sums[kind].index_add_(0, b_idx, ce)
        counts[kind].index_add_(0, b_idx, torch.ones_like(ce))
    text = sums["text"] / counts["text"].clamp(min=1)
    audio = sums["audio"] / counts["audio"].clamp(min=1)
    return {"text": text, "audio": audio, "loss": text + audio}


@torch.no_grad()
def feed_own_predictions(model, batch: dict, rate: float, generator: torch.Generator | None = None) -> dict:
    """Parallel scheduled sampling: replace a share ``rate`` of the fed-back audio tokens by the model's own
    teacher-forced guesses, so that training sees the kind of history generation feeds it.

    Teacher-forced, a fed-back code is always right; generating, the model is fed its own codes, and a
    model that learnt to continue only from right codes derails after its first wrong one (exposure
    bias). One extra forward without gradients gives the guess of every audio target; the input that
    target is fed back into (the next position, same row) gets the guess with probability ``rate``.
    Targets, masks and text rows are untouched. Returns a new batch (``ids`` replaced).
    """
    if rate <= 0 or not batch["mask"][:, :TEXT_ROW].any():
        return batch
    cfg = model.cfg
    device = next(model.parameters()).device
    ids, mask = batch["ids"].to(device).clone(), batch["mask"].to(device)
    feats = batch.get("features")
    h = model(ids, None if feats is None else feats.to(device),
              None if feats is None else batch["lengths"].to(device), text_rows=[], audio_rows=[]).hidden
    W, ts = model.lm_head.weight, TokenSpace(cfg)
    for j in range(cfg.n_audio_layers):
        b, t = mask[:, j, :-1].nonzero(as_tuple=True)                   # a target at t is fed back at t + 1
        if not len(b):
            continue
        start = ts.audio_offset(j)
        guess = (h[b, t] @ W[start: start + cfg.audio_vocab_size].T).argmax(-1)    # (N,) raw values
        take = torch.rand(len(b), generator=generator).to(device) < rate
        ids[b[take], j, t[take] + 1] = guess[take] + start
    return {**batch, "ids": ids}
