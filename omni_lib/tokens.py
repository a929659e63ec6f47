"""The one shared token space and the eight-row input layouts of every task (spec §1, §2).

Every id in the course is derived here from an :class:`~omni_lib.config.OmniConfig`; no other
module writes an offset by hand. For the released model (``mini-omni`` preset)::

    ids 0 .. 151935           Qwen2 text tokens
    ids 151936 .. 151999      64 text specials: eot, pad_t, input_t, answer_t, asr, ...
    ids 152000 + 4160*i ...   audio layer i = 0..6: 4096 SNAC codes, then 64 audio specials
                              (raw values eoa=4096, pad_a=4097, input_a=4098, answer_a=4099)

    >>> from omni_lib.config import OmniConfig
    >>> ts = TokenSpace(OmniConfig.from_preset("mini-omni"))
    >>> ts.eot, ts.asr, ts.audio_id(ts.pad_a, layer=6)
    (151936, 151940, 181057)

An input is an ``(8, T)`` LongTensor: rows 0..6 are the audio layers (already shifted), row 7 is
the text row. ``L`` is the number of Whisper frames spliced in at positions ``1..L``::

    A1A2   audio i: input_a  pad_a x L  eoa  answer_a     text: input_t  pad_t x L  eot  answer_t
    A1T2   audio i: input_a  pad_a x L  eoa  pad_a        text: input_t  pad_t x L  eot  answer_t
    ASR    audio i: (as A1T2)                             text: input_t  pad_t x L  eot  asr
    T1A2   audio i: pad_a x (n+2)            answer_a     text: input_t  t1..tn     eot  answer_t
    T1T2   audio i: pad_a x (n+3)                         text: input_t  t1..tn     eot  answer_t
"""

from __future__ import annotations

from typing import Sequence

import torch

from omni_lib.config import OmniConfig

TASKS = ("A1A2", "A1T2", "ASR", "T1A2", "T1T2")
SPEECH_IN_TASKS = ("A1A2", "A1T2", "ASR")     # take Whisper features at positions 1..L
SPEECH_OUT_TASKS = ("A1A2", "T1A2")           # end with answer_a: the model speaks
TEXT_ROW = -1                                  # row 7 of the eight rows


class TokenSpace:
    """All special ids and layer offsets of one config.

    Audio values ``v`` (0..audio_vocab_size-1: SNAC codes then specials) become model ids with
    :meth:`audio_id`; model ids go back with :meth:`audio_value`.
    """

    def __init__(self, cfg: OmniConfig):
        self.cfg = cfg
        s = cfg.text_special_start
        # text specials, in the reference's order
        self.eot, self.pad_t, self.input_t, self.answer_t, self.asr = s, s + 1, s + 2, s + 3, s + 4
        # audio specials as raw per-layer values (before the layer shift)
        c = cfg.audio_codebook_size
        self.eoa, self.pad_a, self.input_a, self.answer_a, self.split_a = c, c + 1, c + 2, c + 3, c + 4
        self.n_rows = cfg.n_audio_layers + 1

    # --- audio shifts ---------------------------------------------------------------------------
    def audio_offset(self, layer: int) -> int:
        """First id of audio layer ``layer`` (152000 + 4160*layer for mini-omni)."""
        if not 0 <= layer < self.cfg.n_audio_layers:
            raise ValueError(f"audio layer must be in 0..{self.cfg.n_audio_layers - 1}, got {layer}")
        return self.cfg.audio_start + layer * self.cfg.audio_vocab_size

    def audio_offsets(self) -> torch.Tensor:
        """``(7, 1)`` offsets, to shift a whole ``(7, F)`` block of values at once."""
        return torch.tensor([self.audio_offset(i) for i in range(self.cfg.n_audio_layers)]).unsqueeze(1)

    def audio_id(self, value: int, layer: int) -> int:
        """Model id of raw audio ``value`` in ``layer``: ``audio_id(4097, 0) -> 156097`` (pad_a)."""
        if not 0 <= value < self.cfg.audio_vocab_size:
            raise ValueError(f"audio value {value} is outside 0..{self.cfg.audio_vocab_size - 1}")
        return value + self.audio_offset(layer)

    def audio_value(self, ids: torch.Tensor) -> torch.Tensor:
        """Raw values of a ``(7, T)`` block of shifted audio ids (inverse of :meth:`shift_audio`)."""
        return ids - self.audio_offsets().to(ids.device)

    def shift_audio(self, values: torch.Tensor) -> torch.Tensor:
        """Shift raw ``(7, T)`` audio values into model ids, checking their range."""
        values = torch.as_tensor(values, dtype=torch.long)
        if values.dim() != 2 or values.shape[0] != self.cfg.n_audio_layers:
            raise ValueError(f"audio values must be ({self.cfg.n_audio_layers}, T), got {tuple(values.shape)}")
        check_range(values, 0, self.cfg.audio_vocab_size, "audio value")
        return values + self.audio_offsets().to(values.device)

    # --- ranges -------------------------------------------------------------------------------------
    def text_logit_slice(self) -> slice:
        """Columns of the head that are text logits: ``[0, text_vocab_size)``."""
        return slice(0, self.cfg.text_vocab_size)

    def audio_logit_slice(self, layer: int) -> slice:
        """Columns of the head that are audio layer ``layer``'s logits."""
        start = self.audio_offset(layer)
        return slice(start, start + self.cfg.audio_vocab_size)

    def check_text_ids(self, ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Plain text token ids as a LongTensor; specials and out-of-range ids are refused."""
        t = torch.as_tensor(list(ids) if not torch.is_tensor(ids) else ids, dtype=torch.long).reshape(-1)
        check_range(t, 0, self.cfg.text_special_start, "text token id")
        return t

    def check_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Validate an ``(8, T)`` (or ``(B, 8, T)``) id tensor: every row in its own range."""
        if rows.dim() not in (2, 3) or rows.shape[-2] != self.n_rows:
            raise ValueError(f"expected ({self.n_rows}, T) or (B, {self.n_rows}, T) ids, got {tuple(rows.shape)}")
        check_range(rows[..., TEXT_ROW, :], 0, self.cfg.text_vocab_size, "text-row id")
        for i in range(self.cfg.n_audio_layers):
            lo = self.audio_offset(i)
            check_range(rows[..., i, :], lo, lo + self.cfg.audio_vocab_size, f"audio-row {i} id")
        return rows


def check_range(t: torch.Tensor, lo: int, hi: int, what: str) -> None:
    """Raise ValueError naming the first id outside ``[lo, hi)`` and where it is."""
    bad = (t < lo) | (t >= hi)
    if bad.any():
        where = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{what} {int(t[where])} at index {where} is outside [{lo}, {hi})")


def build_input(task: str, cfg: OmniConfig, *, n_audio: int = 0, text_ids: Sequence[int] = ()) -> torch.Tensor:
    """The ``(8, T)`` prompt ids of ``task`` (spec §2).

    ``n_audio`` is L, the number of Whisper frames (speech-input tasks); ``text_ids`` the question's
    text tokens (text-input tasks). T is ``L + 3`` or ``n + 3``.

        >>> cfg = OmniConfig.from_preset("mini-omni")
        >>> build_input("ASR", cfg, n_audio=2)[:, [0, 1, -2, -1]][[0, 7]].tolist()
        [[156098, 156097, 156096, 156097], [151938, 151937, 151936, 151940]]
    """
    ts = TokenSpace(cfg)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
    if task in SPEECH_IN_TASKS:
        if n_audio < 1:
            raise ValueError(f"task {task} takes speech: n_audio (Whisper frames) must be >= 1, got {n_audio}")
        if len(text_ids):
            raise ValueError(f"task {task} takes speech, not text_ids")
        last_audio = ts.answer_a if task == "A1A2" else ts.pad_a
        audio = [ts.input_a] + [ts.pad_a] * n_audio + [ts.eoa, last_audio]
        text = [ts.input_t] + [ts.pad_t] * n_audio + [ts.eot, ts.asr if task == "ASR" else ts.answer_t]
    else:
        text_body = ts.check_text_ids(text_ids).tolist()
        if not text_body:
            raise ValueError(f"task {task} takes text: text_ids is empty")
        if n_audio:
            raise ValueError(f"task {task} takes text, not speech (n_audio={n_audio})")
        n = len(text_body)
        audio = [ts.pad_a] * (n + 2) + [ts.answer_a if task == "T1A2" else ts.pad_a]
        text = [ts.input_t] + text_body + [ts.eot, ts.answer_t]
    rows = torch.empty(ts.n_rows, len(text), dtype=torch.long)  # (8, T)
    rows[:TEXT_ROW] = ts.shift_audio(torch.tensor(audio).expand(cfg.n_audio_layers, -1))
    rows[TEXT_ROW] = torch.tensor(text)
    return rows


def build_batch_parallel(cfg: OmniConfig, *, n_audio: int) -> torch.Tensor:
    """The ``(2, 8, T)`` batch-parallel prompt: row 0 A1A2 (speaks), row 1 A1T2 (text only, spec §7)."""
    return torch.stack([build_input("A1A2", cfg, n_audio=n_audio), build_input("A1T2", cfg, n_audio=n_audio)])


def speech_span(task: str, n_audio: int) -> slice:
    """Positions whose audio-row embeddings the adapter output replaces: ``1..L`` for speech input."""
    return slice(1, 1 + n_audio) if task in SPEECH_IN_TASKS else slice(0, 0)
