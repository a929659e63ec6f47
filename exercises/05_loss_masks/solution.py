"""Exercise 05 · Training targets: the delayed answer grid, teacher forcing and loss masks (spec §6, §8).

A prompt of P positions is followed by the answer's S steps. Step s is predicted at position
``P - 1 + s`` and, teacher-forced, fed back at ``P + s``; so ``ids`` has ``T = P + S - 1`` positions
and ``targets[:, P - 1 + s]`` is step s. The answer grid is built aligned, then delayed exactly as
generation emits it::

    speech answer (A1A2, T1A2, TTS): aligned length max(F + 1, n + 1)
        audio rows:  frames f0 .. fF-1, eoa, then pad_a         (raw values, not shifted)
        text row:    t0 .. tn-1, eot, then pad_t
        then delayed (audio layer j lags j + 1 steps; pads pad_a / pad_t):   S = max(F + 1, n + 1) + 7
    text answer (A1T2, ASR, T1T2): no delay, S = n + 1
        audio rows:  pad_a everywhere;  text row: t0 .. tn-1, eot

Teacher forcing feeds steps 0..S-2 back after the prompt: audio values shifted to their layer's
ids for speech answers, ``pad_a`` (shifted) in every audio row for text answers (what generation
feeds them). Targets are ``IGNORE`` before position P - 1. The loss mask says which targets count:

    task            text row trained        audio rows trained
    ASR/A1T2/T1T2   yes                     no
    TTS             no                      yes
    A1A2/T1A2       yes                     yes

where "audio rows trained" means every answer step of rows 0..6 (pads included: the model must
learn to say pad_a before a layer starts and after its eoa), and "text row trained" means the
answer steps whose text target is not ``pad_t`` (after eot the text is forced, nothing to learn).

Use ``TokenSpace(cfg)`` for the ids and ``omni_lib.delay.delay`` for the delay (exercise 02).
Reference: ``omni_lib.batches.answer_grid`` / ``make_example``.
"""

from typing import Sequence

import torch

from omni_lib.config import OmniConfig
from omni_lib.delay import delay
from omni_lib.tokens import TokenSpace

IGNORE = -100                                         # target of positions that are not predictions
SPEECH_ANSWER = ("A1A2", "T1A2", "TTS")
LOSS_ROWS = {  # task: (text row trained, audio rows trained)
    "ASR": (True, False), "A1T2": (True, False), "T1T2": (True, False),
    "TTS": (False, True), "A1A2": (True, True), "T1A2": (True, True),
}


def answer_grid(task: str, answer: Sequence[int], frames: torch.Tensor | None, cfg: OmniConfig) -> torch.Tensor:
    """``[8, S]`` step targets: raw audio values (0..4159) in rows 0..6, text ids in row 7.

    ``answer``: the answer's text ids (n may be 0); ``frames [7, F]``: its SNAC codes (speech
    answers only, F >= 1; None for text answers).
    """
    # BEGIN SOLUTION
    ts, n_audio = TokenSpace(cfg), cfg.n_audio_layers
    text = list(answer) + [ts.eot]
    if task not in SPEECH_ANSWER:
        grid = torch.full((n_audio + 1, len(text)), ts.pad_a)
        grid[n_audio] = torch.tensor(text)
        return grid
    F = frames.shape[1]
    length = max(F + 1, len(text))
    aligned = torch.full((n_audio + 1, length), ts.pad_a)
    aligned[:n_audio, :F] = frames
    aligned[:n_audio, F] = ts.eoa
    aligned[n_audio] = ts.pad_t
    aligned[n_audio, :len(text)] = torch.tensor(text)
    return delay(aligned, cfg, pad=[ts.pad_a] * n_audio + [ts.pad_t])    # (8, length + 7)
    # END SOLUTION


def teacher_forcing(task: str, prompt: torch.Tensor, grid: torch.Tensor,
                    cfg: OmniConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``prompt [8, P]`` ids + ``grid [8, S]`` (from :func:`answer_grid`) -> ``(ids, targets, mask)``,
    each ``[8, P + S - 1]``: long, long (``IGNORE`` where nothing is predicted) and bool."""
    # BEGIN SOLUTION
    ts, n_audio = TokenSpace(cfg), cfg.n_audio_layers
    P, S = prompt.shape[1], grid.shape[1]
    offsets = torch.tensor([cfg.audio_start + i * cfg.audio_vocab_size for i in range(n_audio)])[:, None]
    fed = grid[:, : S - 1].clone()
    if task not in SPEECH_ANSWER:
        fed[:n_audio] = ts.pad_a                                        # generation feeds pad_a there
    fed[:n_audio] += offsets                                            # raw values -> layer ids
    ids = torch.cat([prompt, fed], dim=1)                               # (8, P + S - 1)
    targets = torch.full_like(ids, IGNORE)
    targets[:, P - 1:] = grid
    text_on, audio_on = LOSS_ROWS[task]
    mask = torch.zeros(ids.shape, dtype=torch.bool)
    mask[:n_audio, P - 1:] = audio_on
    mask[n_audio, P - 1:] = text_on & (grid[n_audio] != ts.pad_t)
    return ids, targets, mask
    # END SOLUTION
