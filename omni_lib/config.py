"""Model and token-space configuration, with presets by name.

The released Mini-Omni is the ``mini-omni`` preset; ``tiny`` is the laptop-CPU course model.
Every size that can be derived (vocabulary offsets, head counts) is computed in
``__post_init__`` so that a preset only states what is independent.

    >>> cfg = OmniConfig.from_preset("mini-omni")
    >>> cfg.padded_vocab_size, cfg.audio_vocab_size
    (181120, 4160)
    >>> OmniConfig.from_preset("mini-omni", n_layer=2).n_layer    # overrides for tests
    2

The token ids themselves (``eot``, ``pad_a``, layer offsets...) live in :mod:`omni_lib.tokens`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class OmniConfig:
    name: str = "custom"

    # --- token space (spec §1) ---
    text_vocab_size: int = 152_000   # text ids incl. the specials block at its end (padded)
    n_text_specials: int = 64        # eot, pad_t, input_t, answer_t, asr, ... at the end of the text range
    audio_codebook_size: int = 4096  # SNAC codes per codebook
    n_audio_specials: int = 64       # eoa, pad_a, input_a, answer_a, ... after the codes of each layer
    n_audio_layers: int = 7          # SNAC codes per 85.33 ms frame (1 coarse + 2 middle + 4 fine)
    text_tokenizer: str = "qwen2"    # "qwen2" (full Qwen2 BPE) or "qwen2-compact" (byte fallback + kept ids)

    # --- backbone (spec §3, Qwen2 layout) ---
    n_layer: int = 24
    n_embd: int = 896
    n_head: int = 14
    n_query_groups: int = 2          # KV heads (grouped-query attention)
    head_size: int = 64
    intermediate_size: int = 4864    # SwiGLU hidden size of each block
    rope_base: float = 1_000_000.0
    norm_eps: float = 1e-6
    block_size: int = 2048           # longest prompt + generation, in positions
    qkv_bias: bool = True
    tie_word_embeddings: bool = True

    # --- speech input ---
    whisper_model: str = "small"     # openai-whisper model name or checkpoint path
    whisper_dim: int = 768           # width of the Whisper encoder output
    whisper_window_s: float = 30.0   # audio window fed to the encoder (30 s = Whisper's own)
    adapter_intermediate_size: int = 4864

    # --- speech output (SNAC 24 kHz's token layout, spec §5) ---
    codec: str = "snac"              # "snac" (the released model's) or "mel-rvq" (the course codec, omni_lib.mel_codec)
    snac_model: str = "hubertsiuzdak/snac_24khz"
    sample_rate: int = 24_000
    samples_per_frame: int = 2048    # one coarse SNAC frame = hop 512 x coarsest stride 4

    # --- optional paper-only TTS adapter (not in the release) ---
    tts_adapter_layers: int = 0

    # --- derived (filled in __post_init__) ---
    text_special_start: int = field(init=False)  # first text special id (151936 for mini-omni)
    audio_vocab_size: int = field(init=False)    # ids per audio layer, codes + specials (4160)
    audio_start: int = field(init=False)         # id of audio layer 0, value 0 (= text_vocab_size)
    padded_vocab_size: int = field(init=False)   # rows of the shared embedding / head (181120)
    frames_per_second: float = field(init=False)  # SNAC coarse frames, = model steps per second of audio

    def __post_init__(self):
        self.text_special_start = self.text_vocab_size - self.n_text_specials
        self.audio_vocab_size = self.audio_codebook_size + self.n_audio_specials
        self.audio_start = self.text_vocab_size
        self.padded_vocab_size = self.text_vocab_size + self.n_audio_layers * self.audio_vocab_size
        self.frames_per_second = self.sample_rate / self.samples_per_frame
        if self.n_head % self.n_query_groups:
            raise ValueError(f"n_head={self.n_head} must be a multiple of n_query_groups={self.n_query_groups}")
        if self.n_text_specials < 5 or self.n_audio_specials < 5:
            raise ValueError("need at least 5 text specials and 5 audio specials (spec §1)")
        if self.codec not in CODECS:
            raise ValueError(f"codec={self.codec!r}: choose one of {CODECS}")
        if self.text_special_start <= 0:
            raise ValueError(f"text_vocab_size={self.text_vocab_size} leaves no room for text tokens")

    # ------------------------------------------------------------------ presets
    @classmethod
    def from_preset(cls, name: str, **overrides) -> "OmniConfig":
        """Return the preset ``name`` with ``overrides`` applied (unknown fields are an error)."""
        if name not in PRESETS:
            raise KeyError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        values = dict(PRESETS[name], name=name)
        bad = set(overrides) - {f.name for f in dataclasses.fields(cls) if f.init}
        if bad:
            raise TypeError(f"OmniConfig has no field(s) {sorted(bad)}")
        values.update(overrides)
        return cls(**values)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "OmniConfig":
        return cls(**json.loads(Path(path).read_text()))

    def diff(self, other: "OmniConfig") -> dict:
        """Fields that differ, as ``{name: (self_value, other_value)}`` (for clear mismatch errors)."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}


CODECS = ("snac", "mel-rvq")

PRESETS: dict[str, dict] = {
    # Exactly the released gpt-omni/mini-omni (Qwen2-0.5B + Whisper-small + 7 SNAC layers).
    "mini-omni": dict(),
    # Laptop CPU: a 3-layer Qwen2-shaped decoder, real Whisper-base with a 4 s window, and a compact
    # text vocabulary (256 byte tokens + the course domain's Qwen2 tokens + 64 specials).
    "tiny": dict(
        text_vocab_size=1024,
        text_tokenizer="qwen2-compact",
        n_layer=3,
        n_embd=192,
        n_head=6,
        n_query_groups=2,
        head_size=32,
        intermediate_size=512,
        block_size=512,
        whisper_model="base",
        whisper_dim=512,
        whisper_window_s=4.0,
        adapter_intermediate_size=512,
        # the course codec: SNAC's token layout, decodable offline (SNAC's weights need a model hub)
        codec="mel-rvq",
    ),
}
