"""The eight-head Omni model: hear with Whisper + adapter, think with a text LM, speak with 7 heads.

    ids [B, 8, T] ──embed (one shared table)──> [B, 8, T, d]
                    rows 0..6 at positions 1..L  <── adapter(Whisper features [B, L, 768])
                    sum over the 8 rows / 8      ──> [B, T, d]
                    backbone (Qwen2 blocks, KV cache)
                    final norm, one head [d -> V] ──> text logits [B, T, text_vocab]
                                                      audio logits [B, 7, T, 4160]

The backbone is any Hugging Face decoder driven with ``inputs_embeds`` (Qwen2 for both presets,
Llama works too): the paper's "any model can talk" is :meth:`OmniModel.from_text_lm`.

    >>> from omni_lib.config import OmniConfig
    >>> from omni_lib.tokens import build_input
    >>> cfg = OmniConfig.from_preset("tiny", n_layer=1)
    >>> model = OmniModel(cfg)
    >>> ids = build_input("A1T2", cfg, n_audio=5)                     # (8, 8)
    >>> out = model(ids, audio_features=torch.randn(1, 5, cfg.whisper_dim))
    >>> tuple(out.text_logits.shape), tuple(out.audio_logits.shape)
    ((1, 8, 1024), (1, 7, 8, 4160))
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from omni_lib.config import OmniConfig
from omni_lib.tokens import TokenSpace


@dataclass
class OmniOutput:
    text_logits: torch.Tensor          # (B, T, text_vocab_size)
    audio_logits: torch.Tensor         # (B, 7, T, audio_vocab_size)
    past_key_values: object = None     # the backbone's KV cache when use_cache=True
    hidden: torch.Tensor | None = None  # (B, T, d) after the final norm


class SwiGLUAdapter(nn.Module):
    """Whisper features -> LM embeddings: ``proj(silu(fc_1 x) * fc_2 x)``, no biases (spec §3)."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int):
        super().__init__()
        self.fc_1 = nn.Linear(d_in, d_hidden, bias=False)
        self.fc_2 = nn.Linear(d_in, d_hidden, bias=False)
        self.proj = nn.Linear(d_hidden, d_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(nn.functional.silu(self.fc_1(x)) * self.fc_2(x))


class TTSAdapter(nn.Module):
    """The paper's optional extra blocks + own audio head on top of the backbone (not in the release).

    ``blocks`` is a small copy of the backbone architecture (its final norm is the adapter's norm);
    the head predicts all 7 audio layers, replacing the audio columns of the main head.
    """

    def __init__(self, backbone_config, n_layers: int, audio_width: int):
        super().__init__()
        from transformers import AutoModel

        d = {k: v for k, v in backbone_config.to_dict().items() if k != "layer_types"}   # re-derived per depth
        cfg = backbone_config.__class__.from_dict({**d, "num_hidden_layers": n_layers, "vocab_size": 1})
        self.blocks = AutoModel.from_config(cfg)
        self.head = nn.Linear(cfg.hidden_size, audio_width, bias=False)


def qwen2_backbone(cfg: OmniConfig):
    """A randomly initialised Qwen2 decoder with the config's sizes (the released model's layout)."""
    from transformers import Qwen2Config, Qwen2Model

    if not cfg.qkv_bias:
        raise ValueError("the Qwen2 backbone has QKV biases; use from_text_lm for other layouts")
    return Qwen2Model(Qwen2Config(
        vocab_size=cfg.padded_vocab_size, hidden_size=cfg.n_embd, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.n_layer, num_attention_heads=cfg.n_head, num_key_value_heads=cfg.n_query_groups,
        head_dim=cfg.head_size, rms_norm_eps=cfg.norm_eps, rope_theta=cfg.rope_base,
        max_position_embeddings=cfg.block_size, tie_word_embeddings=cfg.tie_word_embeddings,
        attn_implementation="sdpa"))


class OmniModel(nn.Module):
    """Mini-Omni's language model: shared 8-row embedding, adapter splice, backbone, sliced head.

    The Whisper encoder is not part of this module (it is frozen and not in the checkpoint); it
    is attached as ``model.whisper`` by the loaders and used by :meth:`audio_features`.
    """

    def __init__(self, cfg: OmniConfig, backbone: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        self.tokens = TokenSpace(cfg)
        self.backbone = backbone if backbone is not None else qwen2_backbone(cfg)
        emb = self.backbone.get_input_embeddings()
        if tuple(emb.weight.shape) != (cfg.padded_vocab_size, cfg.n_embd):
            raise ValueError(f"backbone embedding is {tuple(emb.weight.shape)}, the config needs "
                             f"({cfg.padded_vocab_size}, {cfg.n_embd})")
        self.lm_head = nn.Linear(cfg.n_embd, cfg.padded_vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = emb.weight                      # one table for input and output (spec §3)
        else:
            nn.init.normal_(self.lm_head.weight, std=0.02)
        self.adapter = SwiGLUAdapter(cfg.whisper_dim, cfg.adapter_intermediate_size, cfg.n_embd)
        self.tts_adapter = (TTSAdapter(self.backbone.config, cfg.tts_adapter_layers,
                                       cfg.n_audio_layers * cfg.audio_vocab_size)
                            if cfg.tts_adapter_layers else None)
        self.__dict__["whisper"] = None     # outside the module tree: frozen, fp32, saved separately

    # ------------------------------------------------------------------------------ forward
    def embed(self, ids: torch.Tensor, audio_features: torch.Tensor | None = None,
              audio_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, 8, T]`` ids (+ ``[B, L, D_whisper]`` features) -> ``[B, T, d]`` input embeddings.

        Row b's adapter output replaces audio rows 0..6 at positions ``1..audio_lengths[b]``
        (all of ``L`` by default; 0 for a text-input row); the text row keeps its ``pad_t``.
        """
        x = self.backbone.get_input_embeddings()(ids)                  # (B, 8, T, d)
        if audio_features is not None:
            B, L = audio_features.shape[:2]
            T = ids.shape[-1]
            if L + 1 > T:
                raise ValueError(f"{L} audio features do not fit in a prompt of {T} positions (need >= L + 1)")
            lengths = (torch.full((B,), L) if audio_lengths is None else torch.as_tensor(audio_lengths)).to(ids.device)
            a = self.adapter(audio_features.to(x.dtype))               # (B, L, d)
            a = nn.functional.pad(a, (0, 0, 1, T - L - 1))             # (B, T, d): feature k at position k + 1
            pos = torch.arange(T, device=ids.device)
            splice = (pos >= 1) & (pos <= lengths[:, None])            # (B, T)
            audio_rows = torch.where(splice[:, None, :, None], a[:, None], x[:, : self.cfg.n_audio_layers])
            x = torch.cat([audio_rows, x[:, self.cfg.n_audio_layers:]], dim=1)
        return x.sum(dim=1) / x.shape[1]                               # the 8-row mean, no scaling

    def forward(self, ids: torch.Tensor | None, audio_features: torch.Tensor | None = None,
                audio_lengths: torch.Tensor | None = None, *, inputs_embeds: torch.Tensor | None = None,
                past_key_values=None, use_cache: bool = False, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, last_only: bool = False) -> OmniOutput:
        """Logits for ``ids`` ``[B, 8, T]`` (or ``[8, T]``), or for ready ``inputs_embeds [B, T, d]``.

        ``last_only`` computes the head for the last position only (decoding needs no more).
        """
        if inputs_embeds is not None:
            x = inputs_embeds
        else:
            if ids.dim() == 2:
                ids = ids[None]
            if ids.dim() != 3 or ids.shape[1] != self.tokens.n_rows:
                raise ValueError(f"ids must be [B, {self.tokens.n_rows}, T], got {tuple(ids.shape)}")
            x = self.embed(ids, audio_features, audio_lengths)
        bb_past, tts_past = past_key_values if self.tts_adapter is not None and past_key_values else (past_key_values, None)
        out = self.backbone(inputs_embeds=x, attention_mask=attention_mask, position_ids=position_ids,
                            past_key_values=bb_past, use_cache=use_cache)
        h = out.last_hidden_state                                      # (B, T, d), after the final norm
        cache = out.past_key_values if use_cache else None
        h_head = h[:, -1:] if last_only else h
        logits = self.lm_head(h_head)                                  # (B, T, V)
        B, T, _ = logits.shape
        A, n = self.cfg.audio_vocab_size, self.cfg.n_audio_layers
        text = logits[..., : self.cfg.text_vocab_size]
        if self.tts_adapter is None:
            audio = logits[..., self.cfg.audio_start:]
        else:   # the paper's TTS adapter: extra blocks on the final hidden states, their own audio head
            t = self.tts_adapter.blocks(inputs_embeds=h, attention_mask=attention_mask, position_ids=position_ids,
                                        past_key_values=tts_past, use_cache=use_cache)
            th = t.last_hidden_state
            audio = self.tts_adapter.head(th[:, -1:] if last_only else th)
            cache = (cache, t.past_key_values) if use_cache else None
        audio = audio.reshape(B, T, n, A).transpose(1, 2)             # (B, 7, T, A)
        return OmniOutput(text, audio, cache, h)

    # ------------------------------------------------------------------------------ speech input
    def attach_whisper(self, encoder) -> "OmniModel":
        """Attach a :class:`~omni_lib.encoder.WhisperEncoder` (kept in fp32 whatever the model dtype)."""
        if encoder.dim != self.cfg.whisper_dim:
            raise ValueError(f"Whisper gives {encoder.dim}-d features, the adapter takes {self.cfg.whisper_dim}")
        self.__dict__["whisper"] = encoder
        return self

    def audio_features(self, waves, sample_rate) -> tuple[torch.Tensor, torch.Tensor]:
        """Speech clips -> ``(features [B, L, D], lengths [B])`` on the model's device."""
        if self.whisper is None:
            raise RuntimeError("no Whisper encoder attached: use OmniModel.from_mini_omni / from_pretrained("
                               "..., whisper=True) or model.attach_whisper(WhisperEncoder.from_config(cfg))")
        feats, lengths = self.whisper.encode(waves, sample_rate)
        p = next(self.parameters())
        return feats.to(p.device), lengths.to(p.device)

    # ------------------------------------------------------------------------------ sizes
    def param_breakdown(self) -> dict[str, int]:
        """Parameters by part (tied storage counted once, as ``parameters()`` does)."""
        emb = self.backbone.get_input_embeddings().weight
        parts = {"embedding (shared with head)" if self.cfg.tie_word_embeddings else "embedding": emb.numel(),
                 "transformer blocks + final norm": sum(p.numel() for n, p in self.backbone.named_parameters()
                                                        if p is not emb),
                 "speech adapter": sum(p.numel() for p in self.adapter.parameters())}
        if not self.cfg.tie_word_embeddings:
            parts["output head"] = self.lm_head.weight.numel()
        if self.tts_adapter is not None:
            parts["TTS adapter"] = sum(p.numel() for p in self.tts_adapter.parameters())
        return parts

    # ------------------------------------------------------------------------------ our format
    def save_pretrained(self, directory: str | Path) -> None:
        """``config.json`` (ours + the backbone's) and ``model.safetensors`` (tied head stored once)."""
        from safetensors.torch import save_file

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        sd = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        if self.cfg.tie_word_embeddings:
            sd.pop("lm_head.weight")
        tmp = d / ".model.safetensors.tmp"
        save_file(sd, str(tmp), metadata={"format": "omni_lib"})
        tmp.replace(d / "model.safetensors")
        (d / "config.json").write_text(json.dumps({"omni": self.cfg.to_dict(),
                                                   "backbone": self.backbone.config.to_dict()}, indent=2))

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, whisper: bool = False) -> "OmniModel":
        """Load what :meth:`save_pretrained` wrote; ``whisper=True`` also attaches the config's Whisper."""
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel

        d = Path(directory)
        for name in ("config.json", "model.safetensors"):
            if not (d / name).is_file():
                raise FileNotFoundError(f"{d} has no {name}: not a model saved by OmniModel.save_pretrained")
        meta = json.loads((d / "config.json").read_text())
        cfg = OmniConfig(**meta["omni"])
        bb = meta["backbone"]
        backbone = AutoModel.from_config(AutoConfig.for_model(bb.pop("model_type"), **bb))
        model = cls(cfg, backbone)
        from omni_lib.checkpoint import load_checked

        load_checked(model, load_file(str(d / "model.safetensors")), source=str(d / "model.safetensors"),
                     tied_ok=cfg.tie_word_embeddings)
        if whisper:
            from omni_lib.encoder import WhisperEncoder
            model.attach_whisper(WhisperEncoder.from_config(cfg))
        return model.eval()

    # ------------------------------------------------------------------------------ other sources
    @classmethod
    def from_mini_omni(cls, ckpt_dir: str | Path = "gpt-omni/mini-omni", *, whisper: bool = True) -> "OmniModel":
        """The released checkpoint (``lit_model.pth`` + ``model_config.yaml``): see :mod:`omni_lib.checkpoint`."""
        from omni_lib.checkpoint import load_mini_omni

        return load_mini_omni(cls, ckpt_dir, whisper=whisper)

    @classmethod
    def from_text_lm(cls, lm, cfg: OmniConfig | None = None, *, seed: int = 0) -> "OmniModel":
        """Start from any Hugging Face causal LM (name, directory or model): "any model can talk".

        The LM's blocks and text embedding rows are kept; the table (and head) gain the 64 text
        specials and the 7 × 4,160 audio rows, initialised like the existing rows; the adapter is new.
        A model object passed in is reused, not copied: its decoder becomes the backbone.
        """
        from omni_lib.checkpoint import omni_from_text_lm

        return omni_from_text_lm(cls, lm, cfg, seed=seed)
