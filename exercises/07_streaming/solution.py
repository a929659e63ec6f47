"""Exercise 07 · A streaming chunker: decode speech while it is generated, with no seams (spec §7).

The model emits one 7-token frame per step; a decoder (SNAC) turns ``[7, n]`` frames into
``n * 2048`` samples. Decoding each chunk alone leaves audible seams, because a sample depends on
frames a little before and after its own (SNAC 24 kHz: up to 2.3 frames each way). So decode each
chunk of ``chunk_frames`` new frames together with ``left_context`` frames before it and
``right_context`` frames after it, and keep only the chunk's own samples::

    frames:   ... | left context | chunk (kept) | right context | ...
    decode:         [done - left ,  done + chunk + right)        (clipped at the first frame)
    keep:                        [done, done + chunk) * 2048 samples

A chunk can only be emitted once its right context has arrived, i.e. once ``chunk_frames +
right_context`` frames past the last emitted one are in. ``flush`` decodes the frames not yet
emitted (with their left context) and starts a new utterance. With 3 + 3 frames of context the
chunks put together equal a one-shot decode of all the frames (within float rounding).

Reference: ``omni_lib.codec.StreamingDecoder`` (which also forgets frames it no longer needs;
keeping them all is fine here).
"""

from typing import Callable

import torch


class StreamingChunker:
    """Feed ``[7, k]`` frames as they arrive; get waveform chunks of ``chunk_frames * samples_per_frame``.

    ``decode``: any function ``[7, n]`` frames -> ``[n * samples_per_frame]`` float waveform.
    """

    def __init__(self, decode: Callable[[torch.Tensor], torch.Tensor], *, chunk_frames: int = 4,
                 left_context: int = 3, right_context: int = 3, samples_per_frame: int = 2048):
        self.decode, self.chunk_frames = decode, chunk_frames
        self.left, self.right, self.samples_per_frame = left_context, right_context, samples_per_frame
        self.reset()

    def reset(self) -> None:
        """Forget everything: a new utterance starts."""
        # BEGIN SOLUTION
        self.frames = torch.zeros(7, 0, dtype=torch.long)     # (7, n) every frame of this utterance
        self.done = 0                                          # frames already emitted as audio
        # END SOLUTION

    def push(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Add ``[7, k]`` frames (k >= 0); return the chunks that can now be emitted (maybe none)."""
        # BEGIN SOLUTION
        self.frames = torch.cat([self.frames, torch.as_tensor(frames).long()], dim=1)
        out = []
        while self.frames.shape[1] - self.done >= self.chunk_frames + self.right:
            out.append(self._emit(self.done + self.chunk_frames, self.done + self.chunk_frames + self.right))
        return out
        # END SOLUTION

    def flush(self) -> torch.Tensor:
        """The waveform of every frame not yet emitted (empty if none), then :meth:`reset`."""
        # BEGIN SOLUTION
        end = self.frames.shape[1]
        tail = self._emit(end, end) if end > self.done else torch.zeros(0)
        self.reset()
        return tail
        # END SOLUTION

    def _emit(self, stop: int, context_stop: int) -> torch.Tensor:
        """A helper you may write and use: decode the frames from ``left_context`` before the first
        frame not yet emitted (clipped at frame 0) up to ``context_stop``, return the samples of the
        frames not yet emitted up to ``stop``, and mark those frames emitted."""
        # BEGIN SOLUTION
        first = max(self.done - self.left, 0)
        wave = self.decode(self.frames[:, first:context_stop])
        n = self.samples_per_frame
        chunk = wave[(self.done - first) * n: (stop - first) * n]
        self.done = stop
        return chunk
        # END SOLUTION
