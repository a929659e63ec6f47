"""Grader of exercise 07: ``mine.StreamingChunker`` against a one-shot decode (a toy decoder whose
frames reach 2 frames each way, on seeded random push patterns) and against
``omni_lib.codec.StreamingDecoder`` on a small random SNAC, plus one worked example with literal values."""

import random

import pytest
import torch
from snac import SNAC

from omni_lib.codec import SNAC_24KHZ_CONFIG, Codec, StreamingDecoder
from omni_lib.config import OmniConfig

SPF = 2048
_g = torch.Generator().manual_seed(0)
WEIGHTS = torch.rand(7, generator=_g, dtype=torch.float64)
BASIS = torch.randn(5, SPF, generator=_g, dtype=torch.float64)       # frame f sounds in frames f-2 .. f+2


def toy_decode(frames: torch.Tensor) -> torch.Tensor:
    """``[7, n]`` -> ``[n * 2048]``: frame f's samples mix frames f-2 .. f+2 (zeros beyond the ends)."""
    assert frames.dim() == 2 and frames.shape[0] == 7, f"decode takes [7, n] frames, got {tuple(frames.shape)}"
    v = (frames.double() * WEIGHTS[:, None]).sum(0) / 4096                # (n,)
    n = len(v)
    padded = torch.nn.functional.pad(v, (2, 2))
    return sum(padded[d: d + n, None] * BASIS[d] for d in range(5)).reshape(-1)


def random_frames(F: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 4096, (7, F), generator=torch.Generator().manual_seed(seed))


def split(F: int, seed: int) -> list[int]:
    """Random push sizes summing to F (zeros included: pushing nothing is allowed)."""
    rng, sizes = random.Random(seed), []
    while sum(sizes) < F:
        sizes.append(min(rng.randint(0, 5), F - sum(sizes)))
    return sizes


def test_worked_example(mine):
    frames = random_frames(7, 0)
    s = mine.StreamingChunker(toy_decode, chunk_frames=2)            # context 3 + 3 by default
    assert s.push(frames[:, :3]) == []                               # 3 < 2 + 3: chunk 0 lacks its right context
    chunks = s.push(frames[:, 3:7])                                  # 7 frames: chunks [0, 2) and [2, 4)
    assert [len(c) for c in chunks] == [4096, 4096]
    tail = s.flush()                                                 # frames [4, 7)
    assert len(tail) == 6144
    assert torch.allclose(torch.cat(chunks + [tail]), toy_decode(frames), atol=1e-9)


@pytest.mark.parametrize("chunk,F,seed", [(1, 9, 1), (3, 20, 2), (4, 13, 3), (7, 30, 4)])
def test_stream_equals_one_shot(mine, chunk, F, seed):
    frames, sizes = random_frames(F, seed), split(F, seed)
    s = mine.StreamingChunker(toy_decode, chunk_frames=chunk)
    got, arrived, emitted = [], 0, 0
    for k in sizes:
        new = s.push(frames[:, arrived: arrived + k])
        arrived += k
        emitted += len(new)
        assert all(len(c) == chunk * SPF for c in new)
        assert emitted == max(0, (arrived - 3) // chunk), f"after {arrived} frames: {emitted} chunks out"
        got += new
    got.append(s.flush())
    assert torch.allclose(torch.cat(got), toy_decode(frames), atol=1e-9)


def test_other_context_sizes(mine):
    frames = random_frames(12, 5)                                    # the toy decoder needs only 2 + 2
    s = mine.StreamingChunker(toy_decode, chunk_frames=3, left_context=2, right_context=2)
    chunks = s.push(frames[:, :5])
    assert len(chunks) == 1                                          # 5 >= 3 + 2
    chunks += s.push(frames[:, 5:]) + [s.flush()]
    assert torch.allclose(torch.cat(chunks), toy_decode(frames), atol=1e-9)


def test_flush_starts_a_new_utterance(mine):
    s = mine.StreamingChunker(toy_decode, chunk_frames=2)
    assert len(s.flush()) == 0                                       # nothing pushed, nothing to say
    first, second = random_frames(5, 6), random_frames(6, 7)
    out = s.push(first) + [s.flush()]
    assert torch.allclose(torch.cat(out), toy_decode(first), atol=1e-9)
    out = s.push(second) + [s.flush()]
    assert torch.allclose(torch.cat(out), toy_decode(second), atol=1e-9)


@pytest.fixture(scope="module")
def codec():
    """A random SNAC with the 24 kHz layout but a narrow decoder (the same reach, 3 + 3 frames; fast)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = SNAC(**{**SNAC_24KHZ_CONFIG, "encoder_dim": 8, "decoder_dim": 64})
    return Codec(model, OmniConfig.from_preset("tiny"))


@pytest.mark.parametrize("chunk,sizes,seed", [(2, [3, 1, 5], 8), (3, [7, 4], 9)])
def test_snac_stream_equals_library(mine, request, chunk, sizes, seed):
    mine.StreamingChunker(toy_decode, chunk_frames=chunk).push(random_frames(1, 0))   # a stub fails here
    codec = request.getfixturevalue("codec")
    frames = random_frames(sum(sizes), seed)
    s, ref = mine.StreamingChunker(codec.decode, chunk_frames=chunk), StreamingDecoder(codec, chunk_frames=chunk)
    arrived = 0
    for k in sizes:
        got, want = s.push(frames[:, arrived: arrived + k]), ref.push(frames[:, arrived: arrived + k])
        arrived += k
        assert len(got) == len(want), f"after {arrived} frames: {len(got)} chunks, expected {len(want)}"
        assert all(torch.allclose(g, w, atol=1e-5) for g, w in zip(got, want))
    assert torch.allclose(s.flush(), ref.flush(), atol=1e-5)
