# Your file: replace each `raise NotImplementedError` with your code (spec: README.md).
"""Exercise 02 · The delay pattern: text first, audio layer j lagging j + 1 steps (spec §6).

Rows follow the input layout: rows 0..6 are audio layers 0..6, row 7 is text. Text token k comes at
step k; frame f of audio layer j at step f + j + 1. For F frames the delayed grid has F + 7 steps,
and every other place holds that row's pad::

    step:     0   1   2   3   4   5   6   7   8  ...  F+6
    text:    t0  t1  t2  t3  t4  t5  t6  t7  t8  ...   .
    layer0:   .  f0  f1  f2  f3  f4  f5  f6  f7  ...   .
    layer1:   .   .  f0  f1  f2  f3  f4  f5  f6  ...   .
    ...
    layer6:   .   .   .   .   .   .   .  f0  f1  ... fF-1

Reference: ``omni_lib.delay.delay`` / ``undelay``. Write yours without them.
"""

import torch

N_AUDIO = 7                  # audio layers, rows 0..6; row 7 is the text row


def delay(rows: torch.Tensor, pad) -> torch.Tensor:
    """``[8, F]`` aligned rows -> ``[8, F + 7]`` delayed rows.

    ``pad``: the filler of each row, 8 ids (a list or tensor), or one int for every row.

        >>> delay(torch.arange(16).reshape(8, 2), pad=-1)[[0, 6, 7]].tolist()
        [[-1, 0, 1, -1, -1, -1, -1, -1, -1], [-1, -1, -1, -1, -1, -1, -1, 12, 13], [14, 15, -1, -1, -1, -1, -1, -1, -1]]
    """
    raise NotImplementedError  # YOUR CODE HERE


def undelay(delayed: torch.Tensor) -> torch.Tensor:
    """``[8, F + 7]`` delayed rows -> ``[8, F]`` aligned rows: the inverse of :func:`delay`."""
    raise NotImplementedError  # YOUR CODE HERE
