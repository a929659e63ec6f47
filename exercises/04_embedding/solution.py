"""Exercise 04 · The eight-row embedding: one shared table, an average, the adapter splice (spec §3).

Each of the 8 rows of a position is looked up in the one embedding table and the 8 vectors are
averaged (sum / 8, no scaling). For speech input the adapter's output replaces the embeddings of
the 7 audio rows at positions 1..L (the same vector in all seven rows); the text row keeps its
own embedding (``pad_t``) there::

    position:       0        1 .. L              L+1   L+2
    rows 0..6:      input_a  adapter(feature k)  eoa   answer_a / pad_a
    row 7 (text):   input_t  pad_t               eot   answer_t / asr
    input:          mean over the 8 rows of each column

The adapter maps Whisper features to the model width: ``proj(silu(fc_1 x) * fc_2 x)``, no biases.
Reference: ``OmniModel.embed`` and ``SwiGLUAdapter`` in ``omni_lib/model.py``.
"""

import torch

N_AUDIO = 7                  # audio rows 0..6; row 7 is text


def swiglu_adapter(x: torch.Tensor, fc_1: torch.Tensor, fc_2: torch.Tensor, proj: torch.Tensor) -> torch.Tensor:
    """``x [B, L, D]`` -> ``[B, L, d]`` with weight matrices laid out as ``nn.Linear.weight``
    (out x in): ``fc_1, fc_2 [H, D]``, ``proj [d, H]``."""
    # BEGIN SOLUTION
    return (torch.nn.functional.silu(x @ fc_1.T) * (x @ fc_2.T)) @ proj.T
    # END SOLUTION


def embed(table: torch.Tensor, ids: torch.Tensor, speech: torch.Tensor | None = None,
          lengths: torch.Tensor | None = None) -> torch.Tensor:
    """``ids [B, 8, T]`` -> ``[B, T, d]`` input vectors.

    ``table [V, d]``: the shared embedding weights. ``speech [B, L, d]``: the adapter's output, or
    None (text input). ``lengths [B]``: how many of row b's L vectors are real (row b's splice
    covers positions ``1..lengths[b]``; 0 = no speech in that row); None means L for every row.
    """
    # BEGIN SOLUTION
    x = table[ids]                                                  # (B, 8, T, d), a copy
    if speech is not None:
        B, L = speech.shape[:2]
        if lengths is None:
            lengths = torch.full((B,), L)
        for b in range(B):
            n = int(lengths[b])
            x[b, :N_AUDIO, 1: 1 + n] = speech[b, :n]                # the same vector in all 7 audio rows
    return x.mean(dim=1)
    # END SOLUTION
