# Your file: replace each `raise NotImplementedError` with your code (spec: README.md).
"""Exercise 03 · Task input layouts: the eight rows of every prompt (spec §1, §2).

One vocabulary holds text and 7 audio layers. An audio value v (0..4095 a SNAC code, 4096.. the
audio specials) of layer i is fed as id ``v + cfg.audio_start + i * cfg.audio_vocab_size``. A
prompt is an ``[8, T]`` id tensor: rows 0..6 audio layers (shifted), row 7 text. With L Whisper
frames (speech in) or text tokens t1..tn (text in)::

    task   audio row i (before the shift)             text row
    A1A2   input_a, pad_a x L, eoa, answer_a          input_t, pad_t x L, eot, answer_t
    A1T2   input_a, pad_a x L, eoa, pad_a             input_t, pad_t x L, eot, answer_t
    ASR    (as A1T2)                                  input_t, pad_t x L, eot, asr
    T1A2   pad_a x (n + 2), answer_a                  input_t, t1..tn, eot, answer_t
    T1T2   pad_a x (n + 3)                            input_t, t1..tn, eot, answer_t

Read the special ids from ``TokenSpace(cfg)`` (``ts.eot``, ``ts.pad_t``, ``ts.input_t``,
``ts.answer_t``, ``ts.asr``; raw audio values ``ts.eoa``, ``ts.pad_a``, ``ts.input_a``,
``ts.answer_a``), but do the layer shift yourself and do not call ``omni_lib.tokens.build_input``.
"""

from typing import Sequence

import torch

from omni_lib.config import OmniConfig
from omni_lib.tokens import TokenSpace

TASKS = ("A1A2", "A1T2", "ASR", "T1A2", "T1T2")


def audio_id(value: int, layer: int, cfg: OmniConfig) -> int:
    """Model id of raw audio ``value`` in ``layer`` (mini-omni: ``audio_id(4097, 0, cfg) -> 156097``)."""
    raise NotImplementedError  # YOUR CODE HERE


def build_input(task: str, cfg: OmniConfig, *, n_audio: int = 0, text_ids: Sequence[int] = ()) -> torch.Tensor:
    """The ``[8, T]`` long tensor of ``task``'s prompt: ``n_audio`` = L for speech-input tasks
    (A1A2, A1T2, ASR), ``text_ids`` = t1..tn for text-input tasks (T1A2, T1T2). T is L + 3 or n + 3."""
    raise NotImplementedError  # YOUR CODE HERE
