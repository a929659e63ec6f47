"""The eight-head Omni model: hear with Whisper + adapter, think with a text LM, speak with 7 heads.

    ids [B, 8, T] ──embed (one shared table)──> [B, 8, T, d]
                    rows 0..6 at positions 1..L  <── adapter(Whisper features [B, L, 768])
                    sum over the 8 rows / 8      ──> [B, T, d]
                    backbone (Qwen2 blocks, KV cache)
                    final norm, one head [d -> V] ──> text logits [B, T, text_vocab]
                                                      audio logits [B, 7, T, 4160]

The backbone is any Hugging Face decoder driven with ``inputs_embeds`` (Qwen2 for both presets,
Llama works too): the paper's "any model can talk" is :meth:`OmniModel.from_text_lm`.

Decoding has a fast path (:class:`KVCache`): a preallocated cache of which each step attends only
the filled slots, the backbone's Qwen2/Llama-style blocks driven directly (no per-step mask
building), and the head computed only for the vocabulary slices a row needs (``text_rows`` /
``audio_rows``). :func:`quantize_int8` swaps the big matrices for int8 ones (speed, not exactness).

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

import copy
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


class KVCache:
    """Preallocated keys and values for decoding: ``(B, G, max_len, hs)`` per layer, filled left to right.

    Slot ``s`` holds column ``s`` of the (left-padded) batch for every row; ``valid[b, s]`` is
    False where row ``b`` has padding. A step attends only the ``length`` slots filled so far, not
    all ``max_len`` (the release attends its whole 2,048-slot cache every step). Made by
    :meth:`OmniModel.new_kv_cache` and passed as ``past_key_values`` to :meth:`OmniModel.forward`.
    """

    def __init__(self, n_layer: int, batch: int, n_kv_heads: int, max_len: int, head_size: int,
                 dtype: torch.dtype, device: torch.device | str = "cpu"):
        shape = (n_layer, batch, n_kv_heads, max_len, head_size)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.valid = torch.ones(batch, max_len, dtype=torch.bool, device=device)
        self.padded = False       # any invalid slot at all? (then every step needs a mask)
        self.length = 0

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    def nbytes(self) -> int:
        return 2 * self.k.numel() * self.k.element_size()

    def rows(self, rows: slice) -> "KVCache":
        """A view of some batch rows (the same storage; its ``length`` is its own)."""
        view = copy.copy(self)
        view.k, view.v, view.valid = self.k[:, rows], self.v[:, rows], self.valid[rows]
        return view

    def mask(self, start: int, stop: int) -> torch.Tensor | None:
        """Boolean ``(B, 1, T, stop)`` mask for queries in slots ``start..stop-1``, or None if all may look."""
        T = stop - start
        if T == 1 and not self.padded:
            return None
        keys = torch.arange(stop, device=self.valid.device)
        queries = torch.arange(start, stop, device=self.valid.device)[:, None]
        m = (keys <= queries)[None] & self.valid[:, None, :stop]          # causal, and no padding
        m |= (keys == queries)[None]       # a padding slot attends itself: no all-masked rows (NaN)
        return m[:, None]


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE, rotate-half convention (as the Hugging Face Qwen2/Llama blocks apply it)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
            scale: float | None) -> torch.Tensor:
    """Grouped-query attention: ``q (B, H, T, hs)`` over ``k, v (B, G, S, hs)`` -> ``(B, H, T, hs)``.

    For one query position the ``H / G`` query heads of a group are laid out as that group's
    "positions", so the G key/value heads are read once and never copied per query head.
    """
    B, H, T, hs = q.shape
    G = k.shape[1]
    if T == 1:
        o = nn.functional.scaled_dot_product_attention(q.reshape(B, G, H // G, hs), k, v, attn_mask=mask,
                                                       scale=scale)
        return o.reshape(B, H, 1, hs)
    k, v = k.repeat_interleave(H // G, dim=1), v.repeat_interleave(H // G, dim=1)
    return nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


def fast_path_blocks(backbone: nn.Module) -> bool:
    """Can :class:`KVCache` drive this backbone? (Qwen2 / Llama layout without sliding windows.)"""
    layers = getattr(backbone, "layers", None)
    if layers is None or not all(hasattr(backbone, a) for a in ("norm", "rotary_emb", "config")):
        return False
    for layer in layers:
        attn = getattr(layer, "self_attn", None)
        if attn is None or not all(hasattr(attn, p) for p in ("q_proj", "k_proj", "v_proj", "o_proj")):
            return False
        if getattr(attn, "sliding_window", None) is not None:
            return False
        if not all(hasattr(layer, a) for a in ("input_layernorm", "post_attention_layernorm", "mlp")):
            return False
    return True


def _has_vnni() -> bool:
    """Does this CPU have VNNI (int8 products accumulated in int32)? Read through a private torch probe."""
    return getattr(torch.cpu, "_is_vnni_supported", lambda: False)()


def _fbgemm_int8_entry() -> str:
    """Which of PyTorch's two fbgemm int8 entry points :class:`Int8Linear` uses on this machine.

    ``"rowwise"``: ``torch.fbgemm_linear_int8_weight_fp32_activation`` (per-tensor int8 weights;
    we normalise every row first, so each row still gets its own scale). An int8 step of the
    mini-omni shape took 0.88x the time with it (47.4 vs 53.7 ms, 2 threads), and a call's fixed
    cost is 16 against 40 us (128 x 896 matrix); but it is deprecated, and its inputs use all 8
    bits, which only VNNI's int32 accumulation takes without int16 saturation.
    ``"packed"``: ``quantized::linear_dynamic`` with per-channel weights and ``reduce_range``
    (7-bit inputs) on CPUs without VNNI. Used when the first entry point or VNNI is missing.
    """
    legacy = all(hasattr(torch, f) for f in ("fbgemm_linear_quantize_weight", "fbgemm_pack_quantized_matrix",
                                             "fbgemm_linear_int8_weight_fp32_activation"))
    return "rowwise" if _has_vnni() and legacy else "packed"


PREFILL_ROWS = 16     # Int8Linear(bf16_prefill=True): inputs of this many positions or more go through bf16


class Int8Linear(nn.Module):
    """A frozen ``nn.Linear`` with int8 weights: 4x fewer bytes to read per matrix-vector product.

    Weights are quantised per output row (scale = max |w| / 127 or the equivalent); the input
    is quantised on the fly per call, per tensor (fbgemm's "dynamic" int8, x86), and the output
    is float32. ``row_splits`` packs row ranges separately so that :meth:`forward_rows` can
    compute one range alone (the head's text and audio slices). Which fbgemm entry point runs
    is :func:`_fbgemm_int8_entry`'s choice (``entry`` forces one). Inference only: no
    gradients, no saving.

        >>> lin = nn.Linear(64, 300)
        >>> q = Int8Linear(lin, [(0, 200), (200, 300)])
        >>> x = torch.randn(2, 1, 64)
        >>> bool((q(x) - lin(x)).norm() / lin(x).norm() < 0.03), tuple(q.forward_rows(x, 200, 300).shape)
        (True, (2, 1, 100))
    """

    def __init__(self, linear: nn.Linear, row_splits: list[tuple[int, int]] | None = None, entry: str | None = None,
                 *, bf16_prefill: bool = False):
        import warnings

        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        splits = row_splits or [(0, self.out_features)]
        if splits[0][0] != 0 or splits[-1][1] != self.out_features or any(
                a[1] != b[0] for a, b in zip(splits, splits[1:])):
            raise ValueError(f"row_splits {splits} must cover 0..{self.out_features} in order")
        self.entry = entry or _fbgemm_int8_entry()
        if self.entry not in ("rowwise", "packed"):
            raise ValueError(f"entry must be 'rowwise' or 'packed', not {self.entry!r}")
        if self.entry == "rowwise" and not _has_vnni():
            # measured on an AMD EPYC without VNNI: 6 % error on random inputs, 61 % with one large row
            raise ValueError("the 'rowwise' int8 entry needs a CPU with VNNI (this one has none): without it "
                             "its 8-bit inputs saturate 16-bit sums and the products are wrong; use 'packed'")
        w = linear.weight.detach().float()
        bias = torch.zeros(self.out_features) if linear.bias is None else linear.bias.detach().float()
        self._packs = {}
        with warnings.catch_warnings():           # torch marks both int8 entry points as deprecated
            warnings.simplefilter("ignore")
            for a, b in splits:
                amax = w[a:b].abs().amax(1).clamp(min=1e-12)
                if self.entry == "rowwise":       # rows scaled to [-1, 1]: one tensor scale serves every row
                    q, col_offsets, scale, zero = torch.fbgemm_linear_quantize_weight(w[a:b] / amax[:, None])
                    shape = torch.zeros(1, 1, dtype=torch.int8).expand(b - a, self.in_features)   # only its shape is read
                    self._packs[(a, b)] = (shape, torch.fbgemm_pack_quantized_matrix(q), col_offsets, scale, zero,
                                           bias[a:b] / amax, amax)
                else:
                    q = torch.quantize_per_channel(w[a:b], (amax / 127).double(), torch.zeros(b - a, dtype=torch.long),
                                                   0, torch.qint8)
                    self._packs[(a, b)] = torch.ops.quantized.linear_prepack(q, None if linear.bias is None
                                                                             else bias[a:b])
            self.splits, self.reduce_range = splits, not _has_vnni()
            if self.entry == "rowwise":           # torch warns (once) at the first product: here, not mid-answer
                self.forward_rows(torch.zeros(1, self.in_features), *splits[0])
        self.weight_bytes = sum((b - a) * (self.in_features + 8) for a, b in splits)   # int8 rows + their scales
        # A prefill multiplies many positions by each matrix: compute-bound, where a CPU with native
        # bf16 (AMX, AVX512-BF16) runs a bf16 copy faster than int8; a step's single position stays int8.
        self.dense = w.to(torch.bfloat16) if bf16_prefill else None
        self.dense_bias = None if linear.bias is None or not bf16_prefill else bias.to(torch.bfloat16)

    def forward_rows(self, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        if (start, stop) == (0, self.out_features) and len(self.splits) > 1:
            return torch.cat([self.forward_rows(x, a, b) for a, b in self.splits], dim=-1)
        if (start, stop) not in self._packs:
            raise ValueError(f"rows {start}..{stop} were not packed; packed: {self.splits}")
        if self.dense is not None and x.numel() // self.in_features >= PREFILL_ROWS:
            bias = None if self.dense_bias is None else self.dense_bias[start:stop]
            return nn.functional.linear(x.to(torch.bfloat16), self.dense[start:stop], bias).float()
        if self.entry == "packed":
            return torch.ops.quantized.linear_dynamic(x.float(), self._packs[(start, stop)], self.reduce_range)
        shape, packed, col_offsets, scale, zero, bias, amax = self._packs[(start, stop)]
        y = torch.fbgemm_linear_int8_weight_fp32_activation(x.float(), shape, packed, col_offsets, scale, zero, bias)
        return y.mul_(amax)                       # undo the row normalisation (the bias was divided by it too)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_rows(x, 0, self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, splits={self.splits}, "
                f"entry={self.entry}" + (", bf16_prefill" if self.dense is not None else ""))


@torch.no_grad()
def quantize_int8(model: "OmniModel", entry: str | None = None, *, bf16_prefill: bool = False) -> "OmniModel":
    """Replace every linear layer of the backbone's blocks, and the head, by :class:`Int8Linear` (in place).

    The head gets its own int8 copy packed as [text | audio] slices (the embedding table stays
    as it is, for the lookups); the adapter and norms are untouched. About 4x fewer weight
    bytes per decoding step. The price is precision: the inputs of every matrix are rounded to
    8 bits, so logits move (measure with ``python -m omni_lib.bench decode --dtype int8``) and
    greedy tokens can differ from float32 where two logits are close. For inference on x86
    CPUs; not for training or saving. ``entry`` picks the fbgemm entry point (see
    :func:`_fbgemm_int8_entry`; by default the faster one this machine can run exactly).
    ``bf16_prefill`` keeps a bf16 copy of each matrix for inputs of :data:`PREFILL_ROWS` positions
    or more (the prefill), for CPUs with native bf16 (:mod:`omni_lib.precision` decides).
    """
    if model.tts_adapter is not None:
        raise ValueError("quantize_int8 does not cover the TTS adapter")
    for layer in model.backbone.layers:
        for parent in (getattr(layer, "self_attn", None), getattr(layer, "mlp", None)):
            for name, child in list((parent.named_children() if parent is not None else [])):
                if isinstance(child, nn.Linear):
                    setattr(parent, name, Int8Linear(child, entry=entry, bf16_prefill=bf16_prefill))
    cfg = model.cfg
    model.lm_head = Int8Linear(model.lm_head, [(0, cfg.text_vocab_size), (cfg.audio_start, cfg.padded_vocab_size)],
                               entry=entry)      # the head only ever sees the last position: int8 alone
    return model.eval().requires_grad_(False)


WHISPER_MAX_WINDOW_S = 30.0    # openai-whisper's positional embedding: 1500 positions of 20 ms


def check_sections(cfg: OmniConfig, backbone: dict, source) -> None:
    """Refuse a ``config.json`` whose ``omni`` section contradicts its ``backbone`` section.

    The backbone is built from its own section, so a contradiction would load silently and run a
    model other than the one ``cfg`` describes (e.g. another rope base). Every difference is named:

        >>> cfg = OmniConfig.from_preset("tiny")
        >>> check_sections(cfg, {"hidden_size": 192, "rope_parameters": {"rope_theta": 1e4}}, "config.json")
        Traceback (most recent call last):
        ...
        omni_lib.cli.BadFile: config.json: its sections contradict each other: omni.rope_base = 1000000.0 but backbone.rope_theta = 10000.0. ...
    """
    from omni_lib.cli import BadFile

    rope = (backbone.get("rope_parameters") or {}).get("rope_theta", backbone.get("rope_theta"))
    pairs = [("n_layer", "num_hidden_layers", backbone.get("num_hidden_layers")),
             ("n_embd", "hidden_size", backbone.get("hidden_size")),
             ("n_head", "num_attention_heads", backbone.get("num_attention_heads")),
             ("n_query_groups", "num_key_value_heads", backbone.get("num_key_value_heads")),
             ("head_size", "head_dim", backbone.get("head_dim")),
             ("intermediate_size", "intermediate_size", backbone.get("intermediate_size")),
             ("norm_eps", "rms_norm_eps", backbone.get("rms_norm_eps")),
             ("rope_base", "rope_theta", rope),
             ("padded_vocab_size", "vocab_size", backbone.get("vocab_size")),
             ("tie_word_embeddings", "tie_word_embeddings", backbone.get("tie_word_embeddings"))]
    diffs = [f"omni.{ours} = {getattr(cfg, ours)!r} but backbone.{theirs} = {value!r}" for ours, theirs, value in pairs
             if value is not None and (float(value) != float(getattr(cfg, ours)))]
    longest = backbone.get("max_position_embeddings")
    if longest is not None and longest < cfg.block_size:
        diffs.append(f"omni.block_size = {cfg.block_size} but backbone.max_position_embeddings = {longest}")
    if not 0 < cfg.whisper_window_s <= WHISPER_MAX_WINDOW_S:
        diffs.append(f"omni.whisper_window_s = {cfg.whisper_window_s} but Whisper hears 0 to "
                     f"{WHISPER_MAX_WINDOW_S:g} s")
    if diffs:
        raise BadFile(source, "its sections contradict each other: " + "; ".join(diffs)
                      + ". Restore the file from the run that saved the model (save_pretrained writes both from one model)")


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
            if not torch.isfinite(audio_features).all():   # NaN would spread to every logit: refused, like NaN audio
                bad = int((~torch.isfinite(audio_features)).sum())
                raise ValueError(f"audio_features hold {bad} NaN or inf values; recompute them from the audio "
                                 f"(model.audio_features) or delete the cache they came from")
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
                position_ids: torch.Tensor | None = None, last_only: bool = False,
                text_rows: list[int] | None = None, audio_rows: list[int] | None = None) -> OmniOutput:
        """Logits for ``ids`` ``[B, 8, T]`` (or ``[8, T]``), or for ready ``inputs_embeds [B, T, d]``.

        ``last_only`` computes the head for the last position only (decoding needs no more).
        ``text_rows`` / ``audio_rows`` compute the text / audio logits for those batch rows only
        (in that order; ``[]`` for none): batch-parallel decoding needs audio from row 0 and text
        from row 1, a fifth of the 2 x 181,120 logits. With a :class:`KVCache` as
        ``past_key_values`` the blocks run on the fast path (``attention_mask``, when given, is
        ``[B, past + T]`` as for Hugging Face; ``use_cache`` is implied).
        """
        if inputs_embeds is not None:
            x = inputs_embeds
        else:
            if ids.dim() == 2:
                ids = ids[None]
            if ids.dim() != 3 or ids.shape[1] != self.tokens.n_rows:
                raise ValueError(f"ids must be [B, {self.tokens.n_rows}, T], got {tuple(ids.shape)}")
            x = self.embed(ids, audio_features, audio_lengths)
        if isinstance(past_key_values, KVCache):
            h, cache = self._blocks_cached(x, past_key_values, attention_mask, position_ids), past_key_values
        else:
            bb_past, tts_past = (past_key_values if self.tts_adapter is not None and past_key_values
                                 else (past_key_values, None))
            out = self.backbone(inputs_embeds=x, attention_mask=attention_mask, position_ids=position_ids,
                                past_key_values=bb_past, use_cache=use_cache)
            h = out.last_hidden_state                                  # (B, T, d), after the final norm
            cache = out.past_key_values if use_cache else None
        h_head = h[:, -1:] if last_only else h
        T = h_head.shape[1]
        A, n, Vt = self.cfg.audio_vocab_size, self.cfg.n_audio_layers, self.cfg.text_vocab_size
        if self.tts_adapter is None and (text_rows is not None or audio_rows is not None):
            pick = lambda rows: h_head if rows is None else h_head[list(rows)]     # noqa: E731
            text = self._head(pick(text_rows), 0, Vt)                  # only the columns a row needs
            audio = self._head(pick(audio_rows), self.cfg.audio_start, self.cfg.padded_vocab_size)
        else:
            logits = self._head(h_head, 0, self.cfg.padded_vocab_size)  # (B, T, V)
            text = logits[..., :Vt]
            if self.tts_adapter is None:
                audio = logits[..., self.cfg.audio_start:]
            else:   # the paper's TTS adapter: extra blocks on the final hidden states, their own audio head
                t = self.tts_adapter.blocks(inputs_embeds=h, attention_mask=attention_mask, position_ids=position_ids,
                                            past_key_values=tts_past, use_cache=use_cache)
                th = t.last_hidden_state
                audio = self.tts_adapter.head(th[:, -1:] if last_only else th)
                cache = (cache, t.past_key_values) if use_cache else None
            text = text if text_rows is None else text[list(text_rows)]
            audio = audio if audio_rows is None else audio[list(audio_rows)]
        audio = audio.reshape(audio.shape[0], T, n, A).transpose(1, 2)  # (B, 7, T, A)
        return OmniOutput(text, audio, cache, h)

    def _head(self, h: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Logits of vocabulary ids ``start..stop-1`` only (a slice of the head's rows: no copy)."""
        head = self.lm_head
        if start == 0 and stop == head.out_features:
            return head(h)
        if isinstance(head, nn.Linear):
            return nn.functional.linear(h, head.weight[start:stop])
        return head.forward_rows(h, start, stop)                       # a quantised head (Int8Linear)

    # ------------------------------------------------------------------------------ fast decoding
    def new_kv_cache(self, batch: int, max_len: int) -> KVCache | None:
        """A :class:`KVCache` for ``batch`` rows of up to ``max_len`` positions; None if the backbone
        is not a Qwen2/Llama-style stack this class can drive (then decoding uses the backbone's own cache)."""
        if self.tts_adapter is not None or not fast_path_blocks(self.backbone):
            return None
        c = self.backbone.config
        head_size = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        emb = self.backbone.get_input_embeddings().weight
        return KVCache(len(self.backbone.layers), batch, c.num_key_value_heads, max_len, head_size,
                       emb.dtype, emb.device)

    def _blocks_cached(self, x: torch.Tensor, cache: KVCache, attention_mask: torch.Tensor | None,
                       position_ids: torch.Tensor | None) -> torch.Tensor:
        """The backbone's blocks and final norm on ``x [B, T, d]``, writing keys/values into ``cache``."""
        bb, c = self.backbone, self.backbone.config
        B, T, _ = x.shape
        start, stop = cache.length, cache.length + T
        if stop > cache.max_len:
            raise ValueError(f"the KV cache holds {cache.max_len} positions; {stop} needed")
        if attention_mask is not None:                                 # [B, past + T]: the new columns
            new = attention_mask[:, -T:].bool()
            cache.valid[:, start:stop] = new
            cache.padded = cache.padded or not bool(new.all())
        if position_ids is None:
            position_ids = torch.arange(start, stop, device=x.device).expand(B, T)
        H, G = c.num_attention_heads, c.num_key_value_heads
        hs = cache.k.shape[-1]
        cos, sin = bb.rotary_emb(x, position_ids)                      # (B, T, hs)
        cos, sin = cos[:, None], sin[:, None]
        mask = cache.mask(start, stop)
        for i, layer in enumerate(bb.layers):
            attn = layer.self_attn
            h = layer.input_layernorm(x)
            q = attn.q_proj(h).view(B, T, H, hs).transpose(1, 2)
            k = attn.k_proj(h).view(B, T, G, hs).transpose(1, 2)
            cache.k[i, :, :, start:stop] = _rotate(k, cos, sin)
            cache.v[i, :, :, start:stop] = attn.v_proj(h).view(B, T, G, hs).transpose(1, 2)
            o = _attend(_rotate(q, cos, sin), cache.k[i, :, :, :stop], cache.v[i, :, :, :stop], mask,
                        getattr(attn, "scaling", None))
            x = x + attn.o_proj(o.transpose(1, 2).reshape(B, T, H * hs))
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        cache.length = stop
        return bb.norm(x)

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
        """Load what :meth:`save_pretrained` wrote; ``whisper=True`` also attaches the config's Whisper.

        A damaged ``config.json`` or ``model.safetensors``, or a ``config.json`` whose two sections
        contradict each other, is refused with the file and the values named (see :func:`check_sections`).
        """
        from transformers import AutoConfig, AutoModel

        from omni_lib.cli import BadFile, read_json, read_safetensors

        d = Path(directory)
        for name in ("config.json", "model.safetensors"):
            if not (d / name).is_file():
                raise FileNotFoundError(f"{d} has no {name}: not a model saved by OmniModel.save_pretrained")
        again = "Save the model again (OmniModel.save_pretrained) or copy the folder again"
        meta = read_json(d / "config.json", what='{"omni": {...}, "backbone": {...}} from save_pretrained', fix=again)
        if not isinstance(meta, dict) or not {"omni", "backbone"} <= set(meta):
            raise BadFile(d / "config.json", f"has no 'omni' and 'backbone' sections: not written by "
                                             f"OmniModel.save_pretrained. {again}")
        try:
            cfg = OmniConfig(**meta["omni"])
        except (TypeError, ValueError) as e:
            raise BadFile(d / "config.json", f"the 'omni' section is not a valid OmniConfig ({e}). {again}") from None
        bb = dict(meta["backbone"])
        check_sections(cfg, bb, d / "config.json")
        try:
            backbone = AutoModel.from_config(AutoConfig.for_model(bb.pop("model_type"), **bb))
        except (KeyError, TypeError, ValueError) as e:
            raise BadFile(d / "config.json", f"the 'backbone' section is not a valid transformers config "
                                             f"({e}). {again}") from None
        model = cls(cfg, backbone)
        from omni_lib.checkpoint import load_checked

        load_checked(model, read_safetensors(d / "model.safetensors", fix=again), source=str(d / "model.safetensors"),
                     tied_ok=cfg.tie_word_embeddings, config=str(d / "config.json"))
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
