# Your file: replace each `raise NotImplementedError` with your code (spec: README.md).
"""Exercise 01 · SNAC frames: three codebooks -> one column of 7 tokens per 85.33 ms (spec §5).

SNAC 24 kHz codes a clip as three integer tensors at three rates: ``coarse [1, F]``,
``middle [1, 2F]``, ``fine [1, 4F]``. Mini-Omni emits one column of 7 codes per model step, the
codes under coarse frame f in a depth-first walk of the code tree::

    layer:  0          1            2           3             4              5             6
    code:   coarse[f]  middle[2f]   fine[4f]    fine[4f+1]    middle[2f+1]   fine[4f+2]    fine[4f+3]

Reference: ``omni_lib.codec.codes_to_frames`` / ``frames_to_codes``. Write yours without them.
"""

import torch


def codes_to_frames(codes) -> torch.Tensor:
    """``[coarse, middle, fine]`` (each ``[1, n]`` or ``[n]``, integer) -> ``[7, F]`` long tensor.

    Raise ``ValueError`` unless the lengths are F, 2F and 4F.

        >>> codes = [torch.tensor([[7]]), torch.tensor([[10, 11]]), torch.tensor([[20, 21, 22, 23]])]
        >>> codes_to_frames(codes)[:, 0].tolist()
        [7, 10, 20, 21, 11, 22, 23]
    """
    raise NotImplementedError  # YOUR CODE HERE


def frames_to_codes(frames: torch.Tensor) -> list[torch.Tensor]:
    """``[7, F]`` frames -> ``[coarse [1, F], middle [1, 2F], fine [1, 4F]]``: the inverse of the above."""
    raise NotImplementedError  # YOUR CODE HERE
