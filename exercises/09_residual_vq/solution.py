"""Exercise 09 · Residual vector quantisation at three rates: the course codec's encoder (spec §5).

The course codec describes a log-mel spectrogram ``[4F, D]`` (4 mel frames of 512 samples per
85.33 ms frame; D = 80 bins) with three codebooks at SNAC's three rates. Each scale quantises
*what the scales before it left over*, averaged over k mel frames::

    scale    k   codes   what it describes
    coarse   4   [F]     the mel pooled x4: loudness, the broad spectral envelope
    mid      2   [2F]    what is left, pooled x2: the formants' movement
    fine     1   [4F]    what is left, per frame: fast changes (onsets, fricatives)

    residual = mel
    for (book, k) in (coarse, 4), (mid, 2), (fine, 1):
        codes = nearest(pool(residual, k), book)               # one code per k frames
        residual = residual - repeat(book[codes], k)           # subtract what this scale said

Decoding sums the codebook entries, each repeated back to the mel frame rate:
``mel ~ repeat(coarse, 4) + repeat(mid, 2) + fine``; with fewer scales, fewer terms (a coarser mel).

Reference: ``omni_lib.mel_codec.rvq_encode`` / ``rvq_decode``. Write yours without them.
"""

import numpy as np

SCALES = (4, 2, 1)            # mel frames per code: coarse, mid, fine


def pool(x: np.ndarray, k: int) -> np.ndarray:
    """``[T, D]`` -> ``[T / k, D]``: the mean of each run of k consecutive frames (T a multiple of k).

        >>> pool(np.array([[1.0], [3.0], [5.0], [7.0]]), 2).tolist()
        [[2.0], [6.0]]
    """
    # BEGIN SOLUTION
    x = np.asarray(x)
    return x.reshape(len(x) // k, k, x.shape[1]).mean(axis=1)
    # END SOLUTION


def nearest(x: np.ndarray, book: np.ndarray) -> np.ndarray:
    """``[n, D]`` rows, ``[K, D]`` codebook -> ``[n]`` integer: the index of each row's nearest
    codebook entry (squared Euclidean distance).

        >>> nearest(np.array([[0.9, 0.0], [0.1, 2.0]]), np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])).tolist()
        [1, 2]
    """
    # BEGIN SOLUTION
    x, book = np.asarray(x, dtype=np.float32), np.asarray(book, dtype=np.float32)
    d = (x * x).sum(1, keepdims=True) - 2 * x @ book.T + (book * book).sum(1)     # [n, K]
    return d.argmin(axis=1)
    # END SOLUTION


def rvq_encode(mel: np.ndarray, books) -> list[np.ndarray]:
    """Log-mel ``[4F, D]``, three codebooks ``[K_s, D]`` -> ``[coarse [F], mid [2F], fine [4F]]`` (integer).

    For each scale in turn: pool what is left over k frames (4, 2, 1), pick the nearest entry of
    that scale's codebook, and subtract the entry (repeated k times) from what is left.
    """
    # BEGIN SOLUTION
    codes, residual = [], np.asarray(mel, dtype=np.float32)
    for book, k in zip(books, SCALES):
        book = np.asarray(book, dtype=np.float32)
        idx = nearest(pool(residual, k), book)
        codes.append(idx.astype(np.int64))
        residual = residual - np.repeat(book[idx], k, axis=0)       # what is left for the next scale
    return codes
    # END SOLUTION


def rvq_decode(codes, books, scales: int = 3) -> np.ndarray:
    """``[coarse [F], mid [2F], fine [4F]]`` -> log-mel ``[4F, D]``: the sum of the first ``scales``
    scales' codebook entries, each repeated to the mel frame rate (``scales=1``: coarse only)."""
    # BEGIN SOLUTION
    F = len(codes[0])
    out = np.zeros((F * SCALES[0], np.asarray(books[0]).shape[1]), dtype=np.float32)
    for book, k, c in list(zip(books, SCALES, codes))[:scales]:
        out += np.repeat(np.asarray(book, dtype=np.float32)[np.asarray(c)], k, axis=0)
    return out
    # END SOLUTION
