"""The delay pattern of "text-instructed parallel generation" (spec §6).

Text has no delay; audio layer ``j`` lags ``j + 1`` steps, so the text of a word is always
generated before its sound. For F frames the delayed grid has F + 7 steps (``.`` = pad)::

    step:     0   1   2   3   4   5   6   7   8  ...  F+6
    text:    t0  t1  t2  t3  t4  t5  t6  t7  t8  ...   .     (text token k at step k)
    layer0:   .  f0  f1  f2  f3  f4  f5  f6  f7  ...   .     (frame f at step f + 1)
    layer1:   .   .  f0  f1  f2  f3  f4  f5  f6  ...   .     (frame f at step f + 2)
    ...
    layer6:   .   .   .   .   .   .   .  f0  f1  ... fF-1    (frame f at step f + 7)

Rows follow the input layout: rows 0..6 are audio layers, row 7 is text (see ``omni_lib.tokens``).

    >>> from omni_lib.config import OmniConfig
    >>> cfg = OmniConfig.from_preset("mini-omni")
    >>> rows = torch.arange(8 * 2).reshape(8, 2)   # any ids, F = 2
    >>> delay(rows, cfg, pad=-1)[[0, 6, 7]].tolist()
    [[-1, 0, 1, -1, -1, -1, -1, -1, -1], [-1, -1, -1, -1, -1, -1, -1, 12, 13], [14, 15, -1, -1, -1, -1, -1, -1, -1]]
"""

from __future__ import annotations

import torch

from omni_lib.config import OmniConfig
from omni_lib.tokens import TokenSpace


def row_delays(cfg: OmniConfig) -> torch.Tensor:
    """Delay in steps of each of the 8 rows: ``[1, 2, ..., 7, 0]`` (audio layers, then text)."""
    return torch.tensor(list(range(1, cfg.n_audio_layers + 1)) + [0])


def pad_ids(cfg: OmniConfig) -> torch.Tensor:
    """The pad id of each row: ``pad_a`` shifted for each audio layer, then ``pad_t``."""
    ts = TokenSpace(cfg)
    return torch.tensor([ts.audio_id(ts.pad_a, i) for i in range(cfg.n_audio_layers)] + [ts.pad_t])


def delay(rows: torch.Tensor, cfg: OmniConfig, *, pad: torch.Tensor | int | None = None) -> torch.Tensor:
    """``[..., 8, F]`` aligned rows -> ``[..., 8, F + 7]`` delayed rows.

    Positions before a layer starts or after it ends get ``pad`` (default: each row's pad id,
    :func:`pad_ids`; an int pads every row with that value).
    """
    n_rows = cfg.n_audio_layers + 1
    if rows.dim() < 2 or rows.shape[-2] != n_rows:
        raise ValueError(f"delay expects [..., {n_rows}, F] rows, got {tuple(rows.shape)}")
    F, D = rows.shape[-1], cfg.n_audio_layers
    d = row_delays(cfg).to(rows.device).unsqueeze(1)            # (8, 1)
    src = torch.arange(F + D, device=rows.device) - d           # (8, F+7): source frame of each step
    valid = (src >= 0) & (src < F)
    padding = _pad_tensor(pad, cfg, rows)
    if F == 0:
        return padding.expand(*rows.shape[:-1], D).clone()
    gathered = rows.gather(-1, src.clamp(0, F - 1).expand(*rows.shape[:-1], F + D))
    return torch.where(valid, gathered, padding)


def undelay(delayed: torch.Tensor, cfg: OmniConfig) -> torch.Tensor:
    """``[..., 8, F + 7]`` delayed rows -> ``[..., 8, F]`` aligned rows (inverse of :func:`delay`)."""
    n_rows, D = cfg.n_audio_layers + 1, cfg.n_audio_layers
    if delayed.dim() < 2 or delayed.shape[-2] != n_rows or delayed.shape[-1] < D:
        raise ValueError(f"undelay expects [..., {n_rows}, F + {D}] rows, got {tuple(delayed.shape)}")
    F = delayed.shape[-1] - D
    src = torch.arange(F, device=delayed.device) + row_delays(cfg).to(delayed.device).unsqueeze(1)  # (8, F)
    return delayed.gather(-1, src.expand(*delayed.shape[:-1], F))


def _pad_tensor(pad, cfg: OmniConfig, like: torch.Tensor) -> torch.Tensor:
    if pad is None:
        return pad_ids(cfg).to(like.device, like.dtype).unsqueeze(1)  # (8, 1), broadcast over steps
    if isinstance(pad, int):
        return torch.tensor(pad, dtype=like.dtype, device=like.device)
    return torch.as_tensor(pad, dtype=like.dtype, device=like.device).reshape(-1, 1)
