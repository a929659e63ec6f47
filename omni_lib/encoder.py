"""The ears: a frozen Whisper encoder that turns speech into feature vectors (spec §3).

Mini-Omni runs openai-whisper's encoder on audio padded or cut to a window (30 s for the released
model), which gives 50 vectors per second, and keeps ``L = min(int(ms / 20) + 1, 50 * window)``
of them: the speech plus one. A shorter window (the ``tiny`` preset's 4 s) runs the same conv
stem and blocks with the positional embedding sliced to the window; it is ~15× cheaper, but its
features differ from the 30 s ones (cosine ≈ 0.94), so a model is trained and run with one window.

    >>> n_features(1.0, window_s=30.0)          # 1 s of speech -> 51 vectors
    51
    >>> n_features(45.0, window_s=30.0)         # longer than the window: cut (with a warning)
    1500
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from omni_lib.audio import to_model_audio
from omni_lib.config import OmniConfig

WHISPER_RATE = 16_000          # openai-whisper's input sample rate
FEATURES_PER_SECOND = 50       # 100 mel frames per second, halved by the second conv's stride


def n_features(seconds: float, *, window_s: float) -> int:
    """How many encoder vectors the model sees for ``seconds`` of speech (the reference's rule)."""
    return min(int(seconds * 1000 / 20) + 1, int(window_s * FEATURES_PER_SECOND))


class WhisperEncoder(torch.nn.Module):
    """A frozen openai-whisper ``AudioEncoder`` with a configurable window, batched, with a cache.

    ``encode(waves, sample_rate)`` -> ``(features [B, L_max, D], lengths [B])``; row b is valid
    for its first ``lengths[b]`` vectors (zeros after). Features of an utterance are cached by
    content, so an epoch or a batch-parallel decode never runs Whisper twice on the same audio.
    """

    def __init__(self, audio_encoder: torch.nn.Module, *, window_s: float, cache_dir: str | Path | None = None):
        super().__init__()
        self.encoder = audio_encoder.eval().requires_grad_(False)   # frozen in every stage (spec §8)
        self.window_s = float(window_s)
        self.n_ctx = int(self.window_s * FEATURES_PER_SECOND)
        if self.n_ctx > audio_encoder.positional_embedding.shape[0]:
            raise ValueError(f"window {window_s} s needs {self.n_ctx} positions; Whisper has "
                             f"{audio_encoder.positional_embedding.shape[0]} (30 s)")
        self.n_mels = audio_encoder.conv1.in_channels
        self.dim = audio_encoder.conv2.out_channels
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._memory: dict[str, torch.Tensor] = {}
        self.precision = "fp32"

    WHISPER_PRECISIONS = ("fp32", "bf16", "int8")

    def set_precision(self, precision: str) -> "WhisperEncoder":
        """Encode in ``fp32`` (exact, the default), under ``bf16`` autocast (fast on CPUs with native
        bf16: AMX, AVX512-BF16), or with ``int8`` linear layers (:class:`~omni_lib.model.Int8Linear`:
        the CPUs without; this cannot be undone). The features move by about 1-2 %; they are cached
        apart from the exact ones. :mod:`omni_lib.precision` picks one for the CPU."""
        if precision not in self.WHISPER_PRECISIONS:
            raise ValueError(f"Whisper precision {precision!r}: choose one of {self.WHISPER_PRECISIONS}")
        if self.precision == "int8" and precision != "int8":
            raise ValueError("this Whisper encoder's linear layers are int8 already: load it again for "
                             f"{precision}")
        if precision == "int8" and self.precision != "int8":
            from omni_lib.model import Int8Linear

            for block in self.encoder.blocks:
                for parent in (block.attn, block.mlp):
                    for name, child in list(parent.named_children()):
                        if isinstance(child, torch.nn.Linear):
                            setattr(parent, name, Int8Linear(child))
        self.precision = precision
        return self

    @classmethod
    def from_config(cls, cfg: OmniConfig, *, random_init: bool = False, **kwargs) -> "WhisperEncoder":
        """Load ``cfg.whisper_model`` (a name or checkpoint path; see :mod:`omni_lib.whisper_weights`)."""
        from omni_lib.whisper_weights import load_whisper, random_whisper

        whisper_model = random_whisper(cfg.whisper_model) if random_init else load_whisper(cfg.whisper_model)
        enc = whisper_model.encoder
        if enc.conv2.out_channels != cfg.whisper_dim:
            raise ValueError(f"Whisper {cfg.whisper_model!r} gives {enc.conv2.out_channels}-d features but the "
                             f"config's adapter expects whisper_dim={cfg.whisper_dim}")
        return cls(enc, window_s=cfg.whisper_window_s, **kwargs)

    # ------------------------------------------------------------------------------ features
    def mel(self, wave16k: torch.Tensor) -> torch.Tensor:
        """``[N]`` 16 kHz audio -> ``[n_mels, 100 * window]`` log-mel, padded or cut to the window."""
        import whisper

        n = int(self.window_s * WHISPER_RATE)
        return whisper.log_mel_spectrogram(F.pad(wave16k[:n], (0, max(0, n - len(wave16k)))), n_mels=self.n_mels)

    @torch.no_grad()
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``[B, n_mels, 100 * window]`` -> ``[B, 50 * window, D]``.

        openai-whisper's own forward asserts the 30 s shape, so this runs its layers with the
        positional embedding sliced to the window; for 30 s it equals ``encoder(mel)``.
        """
        enc = self.encoder
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            x = F.gelu(enc.conv1(mel))
            x = F.gelu(enc.conv2(x)).permute(0, 2, 1)               # (B, n_ctx, D)
            x = x + enc.positional_embedding[: x.shape[1]].to(x.dtype)
            for block in enc.blocks:
                x = block(x)
            return enc.ln_post(x).float()

    def encode(self, waves: Sequence, sample_rate: int | Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio clips (any rate, channels, dtype) -> ``(features [B, L_max, D], lengths [B])``."""
        rates = [sample_rate] * len(waves) if isinstance(sample_rate, (int, float)) else list(sample_rate)
        clips = [to_model_audio(w, r, target_rate=WHISPER_RATE, name=f"clip {i}") for i, (w, r) in
                 enumerate(zip(waves, rates))]
        lengths, keys, todo = [], [], []
        for i, clip in enumerate(clips):
            seconds = len(clip) / WHISPER_RATE
            if seconds > self.window_s:
                warnings.warn(f"clip {i} is {seconds:.1f} s long; the encoder window is {self.window_s:g} s, so "
                              f"only its first {self.window_s:g} s are heard (as the reference does)")
            lengths.append(n_features(seconds, window_s=self.window_s))
            keys.append(self._key(clip))
            if self._lookup(keys[-1]) is None:
                todo.append(i)
        if todo:
            feats = self(torch.stack([self.mel(clips[i]) for i in todo]).to(self._device))
            if not torch.isfinite(feats).all():
                raise ValueError("the Whisper encoder produced NaN/inf features: the weights are corrupt or the "
                                 "audio is broken; reload the model and check the input")
            for i, f in zip(todo, feats):
                # clone: a slice would keep (and torch.save would write) the whole batch's storage
                self._store(keys[i], f[: lengths[i]].cpu().clone())
        out = torch.zeros(len(clips), max(lengths), self.dim)        # (B, L_max, D)
        for b, key in enumerate(keys):
            out[b, : lengths[b]] = self._lookup(key)
        return out, torch.tensor(lengths)

    # ------------------------------------------------------------------------------ cache
    @property
    def _device(self) -> torch.device:
        return self.encoder.conv1.weight.device

    def _key(self, clip: torch.Tensor) -> str:
        h = hashlib.sha256(clip.numpy().tobytes())
        exact = "" if self.precision == "fp32" else f"|{self.precision}"      # fp32 keys as before: caches stay valid
        h.update(f"{self.window_s}|{self.dim}|{self.encoder.conv1.weight.flatten()[:8].tolist()}{exact}".encode())
        return h.hexdigest()[:32]

    def clear_cache(self) -> None:
        """Forget the features held in memory (the disk cache stays): long evaluations call this
        between batches, or a LibriSpeech run would hold gigabytes of features."""
        self._memory.clear()

    def _lookup(self, key: str) -> torch.Tensor | None:
        if key in self._memory:
            return self._memory[key]
        path = self.cache_dir / f"{key}.pt" if self.cache_dir else None
        if path is not None and path.is_file():
            try:
                feats = torch.load(path, weights_only=True)
            except Exception as e:                   # cut short by a crash, or not ours: computed again
                warnings.warn(f"{path}: damaged feature cache file ({type(e).__name__}); computing it again")
                path.unlink(missing_ok=True)
                return None
            if not (torch.is_tensor(feats) and feats.dim() == 2 and feats.shape[1] == self.dim
                    and torch.isfinite(feats).all()):
                warnings.warn(f"{path}: not this encoder's features (or NaN/inf); computing them again")
                path.unlink(missing_ok=True)
                return None
            self._memory[key] = feats
            return feats
        return None

    def _store(self, key: str, feats: torch.Tensor) -> None:
        self._memory[key] = feats
        if self.cache_dir:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_dir / f".{key}.tmp"
            torch.save(feats, tmp)
            tmp.replace(self.cache_dir / f"{key}.pt")                # atomic: no half-written cache files
