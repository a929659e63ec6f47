"""Grader of exercise 09: ``mine`` against ``omni_lib.mel_codec.rvq_encode`` / ``rvq_decode`` on
seeded random log-mels and codebooks of several sizes, plus one worked example with literal values
and, on a real course answer with the shipped course codec's codebooks, a reconstruction error that
falls with each scale decoded.

The random inputs have no near-ties (the grader checks: the nearest codebook entry always beats the
second nearest by a clear margin), so any correct ``nearest`` picks the library's codes."""

import numpy as np
import pytest
import torch

from omni_lib import DATA_DIR
from omni_lib.audio import load_audio
from omni_lib.codec import codes_to_frames
from omni_lib.config import OmniConfig
from omni_lib.mel_codec import _nearest, _pool, log_mel, rvq_decode, rvq_encode

MARGIN = 1e-2          # squared distance by which the nearest entry beats the second nearest, at least


def random_case(F: int, D: int, sizes: tuple[int, int, int], seed: int):
    """A log-mel ``[4F, D]`` (values like a real log-mel's) and three codebooks ``[K, D]``."""
    rng = np.random.default_rng(seed)
    mel = (rng.standard_normal((4 * F, D)) * 2.0 - 4.0).astype(np.float32)
    books = [(rng.standard_normal((K, D)) * scale + shift).astype(np.float32)
             for K, scale, shift in zip(sizes, (2.0, 1.0, 0.5), (-4.0, 0.0, 0.0))]
    return mel, books


def gaps(x: np.ndarray, book: np.ndarray) -> np.ndarray:
    """For each row of ``x``: second smallest minus smallest squared distance to ``book`` (float64)."""
    d = ((x[:, None, :].astype(np.float64) - book[None, :, :].astype(np.float64)) ** 2).sum(-1)
    if d.shape[1] < 2:
        return np.full(len(x), np.inf)
    two = np.partition(d, 1, axis=1)[:, :2]
    return two[:, 1] - two[:, 0]


def check_no_near_ties(mel: np.ndarray, books) -> None:
    """The grader checks itself: along the library's path, every pick is clear of the runner-up."""
    residual = mel.astype(np.float32)
    for book, k in zip(books, (4, 2, 1)):
        pooled = _pool(residual, k)
        assert gaps(pooled, book).min() > MARGIN, "grader input with a near-tie: choose another seed"
        residual = residual - np.repeat(book[_nearest(pooled, book)], k, axis=0)


def as_codes(codes) -> list[np.ndarray]:
    assert len(codes) == 3, f"rvq_encode returns 3 code arrays (coarse, mid, fine), got {len(codes)}"
    return [np.asarray(c) for c in codes]


# ------------------------------------------------------------------------------ worked example
BOOKS = [np.array([[0.0, 0.0], [4.0, 2.0]], dtype=np.float32),                    # coarse
         np.array([[0.0, 0.0], [1.0, 1.0], [-1.0, -1.0]], dtype=np.float32),      # mid
         np.array([[0.0, 0.0], [0.5, 0.0], [0.0, 0.5], [-0.5, 0.0]], dtype=np.float32)]   # fine
MEL = np.array([[5.5, 3.0], [5.0, 3.5], [3.0, 1.0], [2.5, 1.0]], dtype=np.float32)        # F = 1, D = 2


def test_worked_example(mine):
    assert np.asarray(mine.pool(np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0], [7.0, 6.0]]), 2)).tolist() == [
        [2.0, 1.0], [6.0, 5.0]]
    assert np.asarray(mine.pool(MEL, 4)).tolist() == [[4.0, 2.125]]
    assert np.asarray(mine.nearest(np.array([[4.0, 2.125]]), BOOKS[0])).tolist() == [1]
    # coarse: pool x4 = [4, 2.125] -> entry 1 [4, 2]; left: [1.5, 1], [1, 1.5], [-1, -1], [-1.5, -1]
    # mid:    pool x2 = [1.25, 1.25], [-1.25, -1] -> entries 1, 2; left: [.5, 0], [0, .5], [0, 0], [-.5, 0]
    # fine:   per frame -> entries 1, 2, 0, 3; nothing is left
    assert [c.tolist() for c in as_codes(mine.rvq_encode(MEL, BOOKS))] == [[1], [1, 2], [1, 2, 0, 3]]
    codes = [np.array([1]), np.array([1, 2]), np.array([1, 2, 0, 3])]
    assert np.asarray(mine.rvq_decode(codes, BOOKS, scales=1)).tolist() == [[4.0, 2.0]] * 4
    assert np.asarray(mine.rvq_decode(codes, BOOKS, scales=2)).tolist() == [[5.0, 3.0], [5.0, 3.0],
                                                                            [3.0, 1.0], [3.0, 1.0]]
    assert np.asarray(mine.rvq_decode(codes, BOOKS)).tolist() == MEL.tolist()


# ------------------------------------------------------------------------------ against the library
@pytest.mark.parametrize("T,D,k,seed", [(8, 3, 4, 0), (12, 80, 2, 1), (20, 80, 1, 2), (36, 5, 4, 3)])
def test_pool_equals_library(mine, T, D, k, seed):
    x = np.random.default_rng(seed).standard_normal((T, D)).astype(np.float32)
    got = np.asarray(mine.pool(x, k))
    assert got.shape == (T // k, D)
    np.testing.assert_allclose(got, _pool(x, k), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n,K,D,seed", [(1, 2, 1, 0), (50, 16, 8, 1), (120, 1024, 80, 2)])
def test_nearest_equals_library(mine, n, K, D, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, D)).astype(np.float32)
    book = rng.standard_normal((K, D)).astype(np.float32)
    keep = gaps(x, book) > MARGIN                                    # rows with a clear nearest entry
    x = x[keep]
    assert len(x) >= max(1, n // 2)                                 # the grader checks itself
    got = np.asarray(mine.nearest(x, book)).reshape(-1)
    assert got.shape == (len(x),) and np.issubdtype(got.dtype, np.integer)
    assert np.array_equal(got, _nearest(x, book))


@pytest.mark.parametrize("F,D,sizes,seed", [(1, 80, (4, 4, 4), 0), (6, 8, (16, 8, 32), 1),
                                            (25, 80, (1024, 1024, 1024), 2)])
def test_rvq_encode_equals_library(mine, F, D, sizes, seed):
    mel, books = random_case(F, D, sizes, seed)
    check_no_near_ties(mel, books)
    got, want = as_codes(mine.rvq_encode(mel, books)), rvq_encode(mel, books)
    for name, g, w in zip(("coarse", "mid", "fine"), got, want):
        assert g.shape == w.shape, f"{name}: shape {g.shape}, expected {w.shape}"
        assert np.issubdtype(g.dtype, np.integer), f"{name}: codes are integers, got {g.dtype}"
        assert np.array_equal(g, w), f"{name} codes differ from the library's at {np.flatnonzero(g != w)[:8]}"


@pytest.mark.parametrize("F,D,sizes,seed", [(1, 80, (4, 4, 4), 3), (7, 8, (16, 8, 32), 4),
                                            (25, 80, (1024, 1024, 1024), 5)])
def test_rvq_decode_equals_library(mine, F, D, sizes, seed):
    _, books = random_case(F, D, sizes, seed)
    rng = np.random.default_rng(100 + seed)
    codes = [rng.integers(0, K, k * F) for K, k in zip(sizes, (1, 2, 4))]
    for scales in (1, 2, 3):
        got = np.asarray(mine.rvq_decode(codes, books, scales=scales))
        assert got.shape == (4 * F, D), f"scales={scales}: shape {got.shape}, expected {(4 * F, D)}"
        np.testing.assert_allclose(got, rvq_decode(codes, books, scales=scales), rtol=1e-5, atol=1e-5,
                                   err_msg=f"scales={scales}")


# ------------------------------------------------------------------------------ a real answer
@pytest.fixture(scope="module")
def answer():
    """The first training answer of the course corpus as a log-mel ``[4F, 80]``, its wave, and the
    shipped course codec (the tiny model's codes come from it)."""
    from omni_lib.prepare import course_codec

    cfg = OmniConfig.from_preset("tiny")
    codec = course_codec(cfg)
    path = sorted((DATA_DIR / "course" / "answers-train").rglob("*.flac"))[0]
    wave = load_audio(path, target_rate=24_000).numpy()
    wave = np.pad(wave, (0, -len(wave) % cfg.samples_per_frame))             # whole 2,048-sample frames
    return log_mel(wave), wave, codec


def test_real_answer_error_falls_with_each_scale(mine, answer):
    mel, wave, codec = answer
    check_no_near_ties(mel, codec.books)
    codes = as_codes(mine.rvq_encode(mel, codec.books))
    frames = codes_to_frames([torch.from_numpy(c.astype(np.int64)) for c in codes], cfg=codec.cfg)
    assert torch.equal(frames, codec.encode(wave, 24_000)), "your codes are not the course codec's"
    err = [float(np.abs(np.asarray(mine.rvq_decode(codes, codec.books, scales=s)) - mel).mean()) for s in (1, 2, 3)]
    want = [float(np.abs(rvq_decode(codes, codec.books, scales=s) - mel).mean()) for s in (1, 2, 3)]
    assert err[0] > err[1] > err[2], f"mean |log-mel error| with 1, 2, 3 scales: {err} (each scale should help)"
    np.testing.assert_allclose(err, want, rtol=1e-4)
