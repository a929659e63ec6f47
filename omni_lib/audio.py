"""Turn whatever audio a user has into the one form the models take: mono float32 in [-1, 1].

Every model in the course reads audio at one fixed rate (SNAC: 24 kHz; Whisper: 16 kHz), one
channel, floats in [-1, 1]. Users bring numpy or torch arrays of any dtype, stereo in either
orientation, at 8 / 16 / 22.05 / 44.1 / 48 kHz. :func:`to_model_audio` is the single place that
converts all of them, and refuses (with a message saying what to do) what cannot be converted::

    >>> import numpy as np
    >>> stereo = np.zeros((44100, 2), dtype=np.int16)          # 1 s, [N, C], 44.1 kHz PCM
    >>> stereo[:, 0] = 16384                                     # left channel at half scale
    >>> x = to_model_audio(stereo, 44100)                       # -> torch.float32 [24000]
    >>> x.shape, x.dtype, round(float(x[12000]), 3)             # mono = mean of the channels
    (torch.Size([24000]), torch.float32, 0.25)

Files are read with soundfile (:func:`load_audio`), not ``whisper.load_audio``: that one needs the
``ffmpeg`` program, which the course machines do not have (spec ``offline.md``).
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

MAX_CHANNELS = 8            # a dimension this small is channels, the other one is time
SILENCE_PEAK = 1e-4         # below this peak |x| everywhere, the audio is effectively silent
MIN_RATE, MAX_RATE = 1_000, 768_000   # Hz; outside this, the number is surely not a sample rate


def to_model_audio(audio, sample_rate: float, *, target_rate: int = 24_000,
                   max_seconds: float | None = None, name: str = "audio") -> torch.Tensor:
    """``audio`` (numpy or torch; ``[N]``, ``[N, C]`` or ``[C, N]``) -> float32 ``[M]`` at ``target_rate``.

    - Channels: in a 2-D array the smaller dimension, if it is <= 8, holds the channels (so both
      ``[N, 2]`` from soundfile and ``[2, N]`` from torchaudio work); they are averaged to mono.
    - Integers are scaled by their full range: int16 / 32768, int32 / 2**31, uint8 (x - 128) / 128.
    - Floats outside [-1, 1] are clipped, with a warning (often it is int PCM stored as float).
    - Resampled with soxr (high quality); M = ceil(N * target_rate / sample_rate) samples.
    - ``max_seconds``: longer audio is cut to that length with a warning (the course rule for a
      fixed model window such as Whisper's 30 s: cut, and say so).
    - Silent audio (all |x| < 1e-4) gives a warning, not an error: it is valid, just useless.

    Raises ValueError for empty audio, NaN / inf samples, a sample rate that is not a positive
    number of Hz in [1 kHz, 768 kHz], or arrays with more than 2 dimensions.
    """
    x = _as_numpy(audio, name)
    _check_rate(sample_rate, "sample_rate", name)
    _check_rate(target_rate, "target_rate", name)
    if x.ndim == 0 or x.ndim > 2:
        raise ValueError(f"{name} has shape {x.shape}; pass one clip as [N] (mono), [N, C] or [C, N] "
                         f"(C <= {MAX_CHANNELS} channels). For a batch, call once per clip.")
    if x.size == 0:
        raise ValueError(f"{name} is empty (shape {x.shape}); pass at least one sample.")
    x = _to_float(x, name)                        # float64, int dtypes scaled to [-1, 1)
    if x.ndim == 2:
        x = x.mean(axis=_channel_axis(x.shape, name))
    peak = float(np.abs(x).max())
    if peak > 1.0:
        warnings.warn(f"{name} has float samples up to {peak:.3g}, outside [-1, 1]; clipping them to "
                      f"[-1, 1]. If it is integer PCM stored as float, divide by 32768 first.", stacklevel=2)
        x = np.clip(x, -1.0, 1.0)
    if peak < SILENCE_PEAK:
        warnings.warn(f"{name} is silent (peak |x| = {peak:.2g} < {SILENCE_PEAK:g}); the model will "
                      f"hear nothing. Check the recording level or the input device.", stacklevel=2)
    if sample_rate != target_rate:
        import soxr

        # exact rational length (44100 * 24000 / 44100 in floats is 24000.000000000004)
        n_out = math.ceil(Fraction(len(x)) * Fraction(float(target_rate)) / Fraction(float(sample_rate)))
        x = soxr.resample(x, float(sample_rate), float(target_rate), quality="HQ")
        x = np.pad(x[:n_out], (0, max(0, n_out - len(x))))   # soxr rounds; fix to the stated length
        x = np.clip(x, -1.0, 1.0)                 # band-limiting may overshoot a full-scale peak slightly
    if max_seconds is not None:
        if not max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
        keep = int(round(max_seconds * target_rate))
        if len(x) > keep:
            warnings.warn(f"{name} is {len(x) / target_rate:.2f} s long; cutting it to the first "
                          f"{max_seconds:g} s (the model's window).", stacklevel=2)
            x = x[:keep]
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def speed_perturb(wave: torch.Tensor, factor: float, sample_rate: int) -> torch.Tensor:
    """``wave`` played ``factor`` times faster, tempo and pitch together (Kaldi's speed perturbation,
    Ko et al. 2015): the same words in a slightly different voice, a cheap way to more speakers.

    It is a resampling: the clip is read as if recorded at ``factor * sample_rate`` Hz.

        >>> speed_perturb(torch.full((16_000,), 0.1), 1.25, 16_000).shape   # 1 s -> 0.8 s
        torch.Size([12800])
    """
    if not factor > 0:
        raise ValueError(f"speed factor must be > 0, got {factor}")
    return to_model_audio(wave, factor * sample_rate, target_rate=sample_rate, name="speed-perturbed audio")


def load_audio(path, target_rate: int = 24_000, *, max_seconds: float | None = None) -> torch.Tensor:
    """Read an audio file with soundfile -> float32 mono ``[M]`` at ``target_rate`` (see :func:`to_model_audio`).

    Reads WAV, FLAC, OGG and (libsndfile >= 1.1) MP3; no ffmpeg needed.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file {str(path)!r} does not exist (or is not a file)")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)   # [N, C]
    except Exception as e:   # libsndfile reports unreadable formats as several exception types
        raise ValueError(f"could not read {str(path)!r} as audio ({e}). soundfile reads WAV, FLAC, "
                         f"OGG and MP3; convert other formats first, e.g. to 16-bit WAV.") from e
    return to_model_audio(data, rate, target_rate=target_rate, max_seconds=max_seconds, name=str(path))


# ----------------------------------------------------------------------------------- helpers
def _as_numpy(audio, name: str) -> np.ndarray:
    if torch.is_tensor(audio):
        t = audio.detach().cpu()
        if t.dtype == torch.bfloat16:             # numpy has no bfloat16
            t = t.float()
        return t.numpy()
    if isinstance(audio, np.ndarray):
        return audio
    if isinstance(audio, (list, tuple, np.generic)):
        return np.asarray(audio)
    raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(audio).__name__}")


def _check_rate(rate, what: str, name: str) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} for {name} must be a number of Hz, got {rate!r}")
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"{what}={rate} for {name} is not a sample rate: pass the rate in Hz "
                         f"(a positive number, e.g. 16000)")
    if not MIN_RATE <= rate <= MAX_RATE:
        hint = f" (did you mean {rate * 1000:g} Hz?)" if rate < MIN_RATE else ""
        raise ValueError(f"{what}={rate} Hz for {name} is absurd: expected {MIN_RATE}..{MAX_RATE} Hz{hint}")


def _to_float(x: np.ndarray, name: str) -> np.ndarray:
    """Float64 copy; integer PCM scaled by its full range so that full scale maps to [-1, 1)."""
    if x.dtype.kind == "f":
        x = x.astype(np.float64)
        if not np.isfinite(x).all():
            n_bad = int((~np.isfinite(x)).sum())
            raise ValueError(f"{name} has {n_bad} NaN or inf samples; fix the source (a failed "
                             f"division or a corrupt file) or replace them, e.g. np.nan_to_num(audio).")
        return x
    if x.dtype.kind == "i":                       # signed: int8 / 128, int16 / 32768, int32 / 2**31
        return x.astype(np.float64) / 2.0 ** (8 * x.dtype.itemsize - 1)
    if x.dtype.kind == "u":                       # unsigned PCM (8-bit WAV) is centred on 2**(bits-1)
        half = 2.0 ** (8 * x.dtype.itemsize - 1)
        return (x.astype(np.float64) - half) / half
    raise ValueError(f"{name} has dtype {x.dtype}; pass float or integer PCM samples")


def _channel_axis(shape: tuple[int, int], name: str) -> int:
    """Which axis of a 2-D array holds the channels: the smaller one, if it is <= MAX_CHANNELS."""
    rows, cols = shape
    if min(rows, cols) > MAX_CHANNELS:
        raise ValueError(f"{name} has shape {shape}: neither dimension looks like channels "
                         f"(<= {MAX_CHANNELS}). Pass [N], [N, C] or [C, N].")
    return 1 if cols <= rows else 0               # a tie (e.g. [2, 2]) reads as [N, C], soundfile's layout
