"""The course codec: speech <-> SNAC's exact 7-token frames, made from a mel spectrogram.

SNAC's weights come from a model hub; a machine without one cannot decode the released model's
speech, nor make intelligible speech codes to train the course model on. This codec keeps
everything the model sees of SNAC (three codebooks of at most 4,096 codes at 11.7 / 23.4 / 46.9 Hz,
so 7 tokens per 85.33 ms frame through :func:`~omni_lib.codec.codes_to_frames`) and replaces the
neural network by parts a student can read in one sitting:

* analysis: an 80-bin log-mel spectrogram at 24 kHz, hop 512 (four mel frames per SNAC frame);
* a residual vector quantiser at SNAC's three rates (k-means codebooks, scikit-learn)::

      coarse  the mel pooled x4           1 code  per 2,048 samples   11.7 Hz
      mid     what is left, pooled x2     2 codes per 2,048 samples   23.4 Hz
      fine    what is left, per frame     4 codes per 2,048 samples   46.9 Hz

  decoding sums the three (each repeated back to the frame rate): ``mel ~ coarse + mid + fine``;
* synthesis: Griffin-Lim (librosa, 32 iterations) rebuilds a phase for the mel magnitudes.

What it is: a teaching codec that makes speech audible offline, not SNAC. It is fitted on one
voice (the course assistant's answers) and is intelligible for that voice: Whisper-base
transcribes its round trip about as well as the original audio (README "The course codec").
What it costs: naturalness (Griffin-Lim's phase sounds buzzy and metallic), other voices, and
bitrate is SNAC's (7 x 10 bits x 11.72 Hz = 0.82 kbit/s with 1,024 entries per codebook).
The coarse codes carry the loudness and the broad spectral envelope, the mid codes the vowel
formants' movement, the fine codes the fast changes (onsets, fricatives).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> waves = [rng.standard_normal(24_000).astype("float32") * 0.1 for _ in range(2)]
    >>> codec = MelCodec.fit(waves, 24_000, codebook_size=8)
    >>> frames = codec.encode(waves[0], 24_000)              # [7, F]: one column per 2,048 samples
    >>> frames.shape, codec.decode(frames).shape
    (torch.Size([7, 12]), torch.Size([24576]))
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from omni_lib.audio import to_model_audio
from omni_lib.codec import codes_to_frames, frames_to_codes
from omni_lib.config import OmniConfig

N_MELS = 80
N_FFT = 2048                     # 85 ms window: Griffin-Lim needs a window of several hops
HOP = 512                        # = SNAC's hop: 4 mel frames per coarse frame
FMAX = 12_000                    # Nyquist at 24 kHz
LOG_FLOOR = 1e-5                 # mel power floor before the log (about -100 dB below a full-scale tone)
GRIFFIN_LIM_ITERS = 32
SCALES = (("coarse", 4), ("mid", 2), ("fine", 1))    # (name, mel frames per code)


def log_mel(wave_24k: np.ndarray) -> np.ndarray:
    """``[N]`` float at 24 kHz, N a multiple of 2,048 -> log-mel ``[N / 512, 80]``.

    ``center=True`` gives one frame more than N / 512; the last one (centred past the end) is dropped.
    """
    import librosa

    mel = librosa.feature.melspectrogram(y=wave_24k, sr=24_000, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS,
                                         fmax=FMAX, power=2.0)
    return np.log(np.maximum(mel, LOG_FLOOR)).T[: len(wave_24k) // HOP].astype(np.float32)


def mel_to_wave(mel: np.ndarray, n_samples: int, seed: int = 0) -> np.ndarray:
    """Log-mel ``[T, 80]`` -> waveform of ``n_samples`` at 24 kHz by Griffin-Lim (seeded phase)."""
    import librosa

    mel = np.concatenate([mel, mel[-1:]])             # the frame centred on the end, dropped by log_mel
    power = np.exp(mel.T.astype(np.float64))                                  # [80, T + 1]
    # mel -> linear power by the filterbank's pseudo-inverse (clipped at 0): librosa's default, a
    # non-negative least-squares solve, is ~10x slower (1.7 s for 2 s of speech) for no gain by ear
    linear = np.maximum(_inverse_filterbank() @ power, 0.0)
    magnitude = np.sqrt(linear)
    wave = librosa.griffinlim(magnitude, n_iter=GRIFFIN_LIM_ITERS, hop_length=HOP, n_fft=N_FFT,
                              length=n_samples, random_state=seed)
    # the rebuilt phase can overshoot a full-scale peak (measured up to 1.23 on a -1 dBFS answer):
    # clip, sample by sample, so that streamed chunks and one-shot decodes stay alike
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _inverse_filterbank() -> np.ndarray:
    """``[1025, 80]``: the pseudo-inverse of the 80-band mel filterbank (mel power -> linear power)."""
    import librosa

    return np.linalg.pinv(librosa.filters.mel(sr=24_000, n_fft=N_FFT, n_mels=N_MELS, fmax=FMAX))


def _pool(x: np.ndarray, k: int) -> np.ndarray:
    """``[T, D]`` -> ``[T / k, D]``: the mean of each run of k frames (T a multiple of k)."""
    return x.reshape(len(x) // k, k, x.shape[1]).mean(axis=1)


def _nearest(x: np.ndarray, book: np.ndarray) -> np.ndarray:
    """Index of the nearest codebook row (squared Euclidean) for each row of ``x``."""
    d = (x * x).sum(1, keepdims=True) - 2 * x @ book.T + (book * book).sum(1)
    return d.argmin(axis=1)


class MelCodec:
    """A three-scale residual VQ over log-mel frames, with :class:`~omni_lib.codec.Codec`'s interface.

    ``books``: three ``[K_s, 80]`` float32 arrays (coarse, mid, fine). Make one with :meth:`fit`,
    save it with :meth:`save`, read it back with :meth:`load`.
    """

    kind = "mel-rvq"

    def __init__(self, books, cfg: OmniConfig | None = None):
        self.cfg = cfg or OmniConfig()
        self.books = [np.ascontiguousarray(np.asarray(b, dtype=np.float32)) for b in books]
        if len(self.books) != len(SCALES) or any(b.ndim != 2 or b.shape[1] != N_MELS for b in self.books):
            raise ValueError(f"a MelCodec needs 3 codebooks of shape [K, {N_MELS}], got "
                             f"{[tuple(b.shape) for b in self.books]}")
        if max(len(b) for b in self.books) > self.cfg.audio_codebook_size:
            raise ValueError(f"codebooks of {[len(b) for b in self.books]} entries exceed the token layout's "
                             f"{self.cfg.audio_codebook_size} codes per layer")
        if self.cfg.sample_rate != 24_000 or self.cfg.samples_per_frame != HOP * SCALES[0][1]:
            raise ValueError("the course codec has SNAC 24 kHz's layout: sample_rate 24000, samples_per_frame 2048")

    @property
    def codes_per_layer(self) -> list[int]:
        """How many codes each of the 7 audio layers can take (the codebook behind that layer)."""
        per_scale = {"coarse": len(self.books[0]), "mid": len(self.books[1]), "fine": len(self.books[2])}
        return [per_scale[s] for s in ("coarse", "mid", "fine", "fine", "mid", "fine", "fine")]

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, waves, sample_rate: int, *, codebook_size: int = 1024, seed: int = 0,
            cfg: OmniConfig | None = None, progress: bool = False) -> "MelCodec":
        """Fit the three codebooks on ``waves`` (k-means, one scale at a time on what is left).

        Deterministic: one thread, a fixed seed, k-means++ starts (a refit gives the same bytes).
        """
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits

        cfg = cfg or OmniConfig()
        mels = [_frames_mel(w, sample_rate, cfg) for w in waves]
        residual = np.concatenate(mels)                                       # [T, 80], T = 4 x frames
        books = []
        for name, k in SCALES:
            pooled = _pool(residual, k)
            n = min(codebook_size, len(pooled))
            with threadpool_limits(1):              # k-means sums in a fixed order: the same codebook every time
                km = KMeans(n_clusters=n, n_init=1, max_iter=100, random_state=seed).fit(pooled)
            book = km.cluster_centers_.astype(np.float32)
            books.append(book)
            residual = residual - np.repeat(book[_nearest(pooled, book)], k, axis=0)
            if progress:
                print(f"course codec: {name} codebook of {n} fitted on {len(pooled)} vectors")
        return cls(books, cfg)

    # ------------------------------------------------------------------ codes
    def encode(self, audio, sample_rate: float) -> torch.Tensor:
        """Audio ``[N]`` -> ``[7, F]`` codes, ``F = ceil(N / 2048)`` at 24 kHz (right-padded with zeros)."""
        codes = rvq_encode(_frames_mel(audio, sample_rate, self.cfg), self.books)
        return codes_to_frames([torch.from_numpy(c) for c in codes], cfg=self.cfg)

    def mel(self, frames, *, scales: int = 3) -> np.ndarray:
        """``[7, F]`` -> the log-mel ``[4F, 80]`` the codes describe, from the first ``scales`` scales."""
        codes = [c.reshape(-1).numpy() for c in frames_to_codes(frames, cfg=self.cfg)]
        for (name, _), book, c in zip(SCALES, self.books, codes):
            if c.size and c.max() >= len(book):
                raise ValueError(f"{name} code {int(c.max())} is out of range: this course codec has "
                                 f"{len(book)} {name} entries (codes 0..{len(book) - 1})")
        return rvq_decode(codes, self.books, scales=scales)

    def decode(self, frames, *, scales: int = 3, noise: bool = False) -> torch.Tensor:
        """``[7, F]`` frames -> float32 waveform ``[F * 2048]`` at 24 kHz (Griffin-Lim, seeded: the
        same codes always give the same samples). ``scales`` < 3 drops the finer scales (to hear what
        each carries); ``noise`` exists for the SNAC interface and changes nothing here."""
        mel = self.mel(frames, scales=scales)
        if len(mel) == 0:
            return torch.zeros(0)
        return torch.from_numpy(mel_to_wave(mel, len(mel) * HOP))

    # ------------------------------------------------------------------ streaming
    def context_frames(self) -> tuple[int, int]:
        """(left, right) frames a streamed chunk is decoded with (:class:`~omni_lib.codec.StreamingDecoder`).

        Griffin-Lim's window spans 2,048 samples, so a frame's phase is shaped by its neighbours;
        one frame on each side keeps a chunk's edges close to the one-shot decode (not equal: the
        phase is solved per chunk) and lets the first audio leave one frame after frame 0.
        """
        return 1, 1

    @property
    def crossfade_samples(self) -> int:
        """Samples over which consecutive streamed chunks are cross-faded (one hop): their phases differ."""
        return HOP

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path, *, extra: dict | None = None) -> Path:
        """Write the codebooks (and ``extra`` tensors/plain values) to ``path``, atomically; a torch
        file of tensors and plain containers only, so :meth:`load` reads it with ``weights_only``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {**(extra or {}), "kind": self.kind,
                 **{name: torch.from_numpy(b) for (name, _), b in zip(SCALES, self.books)}}
        tmp = path.with_name(path.name + ".tmp")
        try:
            torch.save(state, tmp)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path, cfg: OmniConfig | None = None) -> "MelCodec":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"course codec file {path} is missing: refit it with "
                                    f"python -m omni_lib.prepare --ship")
        try:
            state = torch.load(path, weights_only=True)          # data only: a pickled payload is refused
            return cls([state[name].numpy() for name, _ in SCALES], cfg)
        except (KeyError, TypeError, RuntimeError, pickle.UnpicklingError) as e:
            raise ValueError(f"{path} is not a course codec file ({e}); refit it with "
                             f"python -m omni_lib.prepare --ship") from None

    def digest(self) -> str:
        """A short hash of the codebooks: which codec made a model's training codes."""
        h = hashlib.sha1()
        for b in self.books:
            h.update(b.tobytes())
        return h.hexdigest()[:12]


def rvq_encode(mel: np.ndarray, books) -> list[np.ndarray]:
    """Residual VQ at three rates: log-mel ``[4F, 80]`` -> codes ``[F]``, ``[2F]``, ``[4F]``.

    For each scale in turn: pool what is left over k frames (4, 2, 1), pick the nearest codebook
    entry, and subtract it (repeated k times) from what is left::

        >>> books = [np.array([[0.0], [10.0]]), np.array([[-1.0], [1.0]]), np.array([[0.0], [0.5]])]
        >>> mel = np.array([[10.0], [10.0], [12.0], [12.0]])       # one coarse frame, 1 mel bin
        >>> [c.tolist() for c in rvq_encode(mel, books)]
        [[1], [0, 1], [1, 1, 1, 1]]
    """
    codes, residual = [], np.asarray(mel, dtype=np.float32)
    for (_, k), book in zip(SCALES, books):
        pooled = _pool(residual, k)
        idx = _nearest(pooled, np.asarray(book, dtype=np.float32))
        codes.append(idx.astype(np.int64))
        residual = residual - np.repeat(np.asarray(book, dtype=np.float32)[idx], k, axis=0)
    return codes


def rvq_decode(codes, books, *, scales: int = 3) -> np.ndarray:
    """The inverse of :func:`rvq_encode` up to quantisation: the sum of the first ``scales`` scales'
    entries, each repeated to the mel frame rate. ``[F], [2F], [4F]`` -> ``[4F, 80]``."""
    F = len(codes[0])
    out = np.zeros((F * SCALES[0][1], np.asarray(books[0]).shape[1]), dtype=np.float32)
    for (_, k), book, c in list(zip(SCALES, books, codes))[:scales]:
        out += np.repeat(np.asarray(book, dtype=np.float32)[np.asarray(c)], k, axis=0)
    return out


def _frames_mel(audio, sample_rate: float, cfg: OmniConfig) -> np.ndarray:
    """Any audio -> 24 kHz, right-padded to whole 2,048-sample frames -> log-mel ``[4F, 80]``."""
    x = to_model_audio(audio, sample_rate, target_rate=cfg.sample_rate).numpy()
    x = np.pad(x, (0, -len(x) % cfg.samples_per_frame))
    return log_mel(x)
