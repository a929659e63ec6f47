# Your file: replace each `raise NotImplementedError` with your code (spec: README.md).
"""Exercise 06 · One batch-parallel decoding step (spec §7).

Batch-parallel decoding runs one spoken question as a batch of two: row 0 in the A1A2 layout
(answers in speech and text), row 1 in the A1T2 layout (answers in text only, so it reasons as
well as a text model). At every step, greedily (argmax):

    audio   the 7 audio values come from row 0's audio logits (raw values 0..4159, layer j's slice)
    text    the one text token comes from row 1's text logits
    feed    both rows get that text token; row 0's audio rows get its own 7 values (shifted to
            their layer's ids); row 1's audio rows always get pad_a (shifted)
    rules   (from step 1 on; step 0, predicted at the last prompt position, is kept unchecked)
            - once the text has ended, the text token is forced to pad_t
            - layer 6 sampling eoa stops generation: this step is not kept, stop = "eoa"
            - else a text eot is kept and fed back, and the text has ended from the next step on

Reference: the batch-parallel branch of ``omni_lib.decode.decode_steps`` (``generate(model,
"A1A2", batch_parallel=True, ...)``). The grader drives your step with a real (tiny, random)
model and compares every token with the library's.
"""

from dataclasses import dataclass

import torch

from omni_lib.config import OmniConfig
from omni_lib.tokens import TokenSpace


@dataclass
class StepState:
    step: int = 0                 # the index of the step about to be sampled (0 = at the last prompt position)
    text_ended: bool = False      # has the text row already produced its eot (at a step > 0)?


def parallel_step(text_logits: torch.Tensor, audio_logits: torch.Tensor, state: StepState,
                  cfg: OmniConfig) -> tuple[int, torch.Tensor, torch.Tensor, str | None]:
    """Sample one step of the pair and say what to feed back. ``state`` is updated in place.

    ``text_logits [2, text_vocab]`` and ``audio_logits [2, 7, audio_vocab]``: both rows' logits at
    the last position. Returns ``(text, audio, feed, stop)``: the kept text id (after forcing),
    the 7 raw audio values ``[7]`` (long), the ids to feed next ``[2, 8]`` (long; rows 0..6 audio,
    row 7 text) and ``"eoa"`` if generation stops here (then ``feed`` is not used), else None.
    """
    raise NotImplementedError  # YOUR CODE HERE
