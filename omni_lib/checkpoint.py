"""Checkpoints from elsewhere: the released Mini-Omni (LitGPT layout) and any Hugging Face text LM.

The release (spec §4) is a plain ``torch.save`` state dict with LitGPT names; the parts that need
care are the fused QKV matrix, grouped per KV group::

    attn.attn.weight  [(n_head + 2 * n_query_groups) * head_size, d]  =  for g in groups:
                      [ q heads of group g (n_head / n_query_groups of them) | k_g | v_g ]

and the tie rule: the reference loads ``lm_head.weight`` and then overwrites it with
``transformer.wte.weight``, so the effective head is ``wte`` whatever the file says.

    >>> litgpt_name("transformer.h.3.mlp.fc_1.weight")
    'backbone.layers.3.mlp.gate_proj.weight'
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch

from omni_lib.config import OmniConfig

RELEASE_FILES = ("lit_model.pth", "model_config.yaml")
RELEASE_REPO = "gpt-omni/mini-omni"

# LitGPT name <-> ours (the backbone uses Hugging Face Qwen2 names); {i} a layer, {p} an adapter part
_NAMES = [
    ("transformer.wte.weight", "backbone.embed_tokens.weight"),
    ("transformer.ln_f.weight", "backbone.norm.weight"),
    ("lm_head.weight", "lm_head.weight"),
    ("whisper_adapter.{p}.weight", "adapter.{p}.weight"),
    ("transformer.h.{i}.norm_1.weight", "backbone.layers.{i}.input_layernorm.weight"),
    ("transformer.h.{i}.norm_2.weight", "backbone.layers.{i}.post_attention_layernorm.weight"),
    ("transformer.h.{i}.attn.proj.weight", "backbone.layers.{i}.self_attn.o_proj.weight"),
    ("transformer.h.{i}.mlp.fc_1.weight", "backbone.layers.{i}.mlp.gate_proj.weight"),
    ("transformer.h.{i}.mlp.fc_2.weight", "backbone.layers.{i}.mlp.up_proj.weight"),
    ("transformer.h.{i}.mlp.proj.weight", "backbone.layers.{i}.mlp.down_proj.weight"),
]
_FUSED = re.compile(r"transformer\.h\.(\d+)\.attn\.attn\.(weight|bias)")
_SPLIT = re.compile(r"backbone\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)")


def _rename(name: str, src: int, dst: int) -> str | None:
    for pair in _NAMES:
        pattern = re.escape(pair[src]).replace(r"\{i\}", r"(?P<i>\d+)").replace(r"\{p\}", r"(?P<p>fc_1|fc_2|proj)")
        m = re.fullmatch(pattern, name)
        if m:
            return pair[dst].format(**m.groupdict())
    return None


def litgpt_name(name: str) -> str:
    """Our parameter name for a LitGPT one (fused QKV names are split by :func:`split_qkv`)."""
    ours = _rename(name, 0, 1)
    if ours is None:
        raise KeyError(f"unexpected key {name!r} in the checkpoint: not part of the Mini-Omni layout")
    return ours


def split_qkv(fused: torch.Tensor, cfg: OmniConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Undo LitGPT's per-group fusion: ``[(H + 2G) * hs, ...]`` -> q ``[H * hs]``, k, v ``[G * hs]``."""
    G, hs, per = cfg.n_query_groups, cfg.head_size, cfg.n_head // cfg.n_query_groups
    grouped = fused.reshape(G, per + 2, hs, *fused.shape[1:])       # (G, q heads + k + v, hs, ...)
    q, k, v = grouped.split((per, 1, 1), dim=1)
    return (q.reshape(G * per * hs, *fused.shape[1:]), k.reshape(G * hs, *fused.shape[1:]),
            v.reshape(G * hs, *fused.shape[1:]))


def fuse_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cfg: OmniConfig) -> torch.Tensor:
    """Inverse of :func:`split_qkv`."""
    G, hs, per = cfg.n_query_groups, cfg.head_size, cfg.n_head // cfg.n_query_groups
    rest = q.shape[1:]
    return torch.cat([q.reshape(G, per, hs, *rest), k.reshape(G, 1, hs, *rest), v.reshape(G, 1, hs, *rest)],
                     dim=1).reshape(-1, *rest)


def litgpt_to_omni(sd: dict[str, torch.Tensor], cfg: OmniConfig) -> dict[str, torch.Tensor]:
    """The released state dict in our names, with the tie rule applied (a warning if the file disagrees)."""
    out = {}
    for name, t in sd.items():
        m = _FUSED.fullmatch(name)
        if m:
            layer, kind = m.groups()
            for proj, part in zip(("q_proj", "k_proj", "v_proj"), split_qkv(t, cfg)):
                out[f"backbone.layers.{layer}.self_attn.{proj}.{kind}"] = part
        else:
            out[litgpt_name(name)] = t
    if cfg.tie_word_embeddings and "lm_head.weight" in out:
        head, wte = out.pop("lm_head.weight"), out.get("backbone.embed_tokens.weight")
        if wte is not None and (head.shape != wte.shape or not torch.equal(head, wte)):
            warnings.warn("the checkpoint's lm_head.weight differs from transformer.wte.weight; as in the "
                          "reference (tie_word_embeddings), the output head uses wte and lm_head is ignored")
    return out


def omni_to_litgpt(model) -> dict[str, torch.Tensor]:
    """Our model's weights in the released LitGPT layout (so the authors' code can run our models)."""
    sd, cfg, out = model.state_dict(), model.cfg, {}
    for name, t in sd.items():
        m = _SPLIT.fullmatch(name)
        if m:
            layer, which, kind = m.groups()
            if which == "q":
                k, v = (sd[f"backbone.layers.{layer}.self_attn.{p}_proj.{kind}"] for p in "kv")
                out[f"transformer.h.{layer}.attn.attn.{kind}"] = fuse_qkv(t, k, v, cfg)
            continue
        lit = _rename(name, 1, 0)
        if lit is None:
            raise KeyError(f"{name} has no place in the LitGPT layout (e.g. the TTS adapter)")
        out[lit] = t
    return out


def read_release_config(path: str | Path) -> OmniConfig:
    """``model_config.yaml`` of the release -> an :class:`OmniConfig` (unsupported layouts refused)."""
    from omni_lib.cli import BadFile, read_yaml

    again = f"Download it again: huggingface-cli download {RELEASE_REPO} model_config.yaml --local-dir {Path(path).parent}"
    y = read_yaml(path, what="LitGPT's model_config.yaml of the release", fix=again)
    if not isinstance(y, dict):
        raise BadFile(path, f"holds {type(y).__name__}, not LitGPT's settings (a mapping). {again}")
    expect = {"norm_class_name": "RMSNorm", "mlp_class_name": "LLaMAMLP", "parallel_residual": False,
              "rotary_percentage": 1.0, "scale_embeddings": False, "asr_adapter": "llamamlp", "bias": False}
    bad = {k: (y[k], v) for k, v in expect.items() if k in y and y[k] != v}
    if bad:
        raise ValueError(f"{path}: unsupported settings (got, supported): {bad}")
    fields = dict(n_layer="n_layer", n_embd="n_embd", n_head="n_head", n_query_groups="n_query_groups",
                  head_size="head_size", intermediate_size="intermediate_size", rope_base="rope_base",
                  norm_eps="norm_eps", block_size="block_size", text_vocab_size="text_vocab_size",
                  whisper_dim="whisper_adapter_dim", tie_word_embeddings="tie_word_embeddings",
                  qkv_bias="add_qkv_bias", adapter_intermediate_size="intermediate_size")
    overrides = {ours: y[theirs] for ours, theirs in fields.items() if theirs in y}
    if y.get("post_adapter"):
        overrides["tts_adapter_layers"] = y.get("post_adapter_layers", 6)
    cfg = OmniConfig.from_preset("mini-omni", **overrides)
    for key, ours in (("audio_vocab_size", cfg.audio_vocab_size), ("padded_vocab_size", cfg.padded_vocab_size),
                      ("cat_audio_vocab_size", cfg.n_audio_layers * cfg.audio_vocab_size)):
        if key in y and y[key] != ours:
            raise ValueError(f"{path}: {key} = {y[key]} but the Mini-Omni token space gives {ours}")
    return cfg


def load_checked(model, sd: dict[str, torch.Tensor], *, source: str, tied_ok: bool, config: str = "") -> None:
    """``load_state_dict`` that names every missing, unexpected or wrongly shaped tensor (the weights
    ``source`` against the model its ``config`` file describes)."""
    own = model.state_dict()
    if tied_ok:
        own.pop("lm_head.weight", None)
    problems = [f"missing {k} {tuple(v.shape)}" for k, v in own.items() if k not in sd]
    problems += [f"unexpected {k}" for k in sd if k not in own]
    problems += [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
                 for k, v in own.items() if k in sd and sd[k].shape != v.shape]
    if problems:
        more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
        against = f"the model that {config} describes" if config else "the model config"
        raise ValueError(f"{source} does not match {against}: " + "; ".join(problems[:8]) + more
                         + ". Weights and config must come from one save: copy both again")
    model.load_state_dict(sd, strict=False)
    bad = [k for k, v in sd.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{source}: non-finite values in {bad[:5]}")


def load_mini_omni(cls, ckpt_dir: str | Path, *, whisper: bool = True):
    """Build :class:`~omni_lib.model.OmniModel` from the released files (downloaded if ``ckpt_dir`` is the hub id)."""
    d = Path(ckpt_dir).expanduser()
    if not d.is_dir():
        if str(ckpt_dir) != RELEASE_REPO:
            raise FileNotFoundError(f"checkpoint directory {ckpt_dir} does not exist; pass a directory with "
                                    f"{' + '.join(RELEASE_FILES)}, or {RELEASE_REPO!r} to download the release")
        from omni_lib.hub import hub_file

        d = Path(hub_file(RELEASE_REPO, RELEASE_FILES[0], what="the Mini-Omni checkpoint")).parent
        for f in RELEASE_FILES[1:] + ("tokenizer.json",):
            hub_file(RELEASE_REPO, f, what="the Mini-Omni checkpoint")
    missing = [f for f in RELEASE_FILES if not (d / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{d} lacks {', '.join(missing)}: a Mini-Omni checkpoint directory holds "
                                f"{', '.join(RELEASE_FILES)} (huggingface-cli download {RELEASE_REPO} --local-dir DIR)")
    cfg = read_release_config(d / "model_config.yaml")
    from omni_lib.cli import BadFile, read_torch

    # weights_only (in read_torch): a checkpoint is data; never unpickle arbitrary objects (spec §4)
    sd = read_torch(d / "lit_model.pth", mmap=True,
                    fix=f"Download it again: huggingface-cli download {RELEASE_REPO} lit_model.pth --local-dir {d}")
    if not isinstance(sd, dict) or not all(torch.is_tensor(v) for v in sd.values()):
        raise BadFile(d / "lit_model.pth", "is not a state dict (a mapping of names to tensors)")
    model = cls(cfg)
    load_checked(model, litgpt_to_omni(sd, cfg), source=str(d / "lit_model.pth"), tied_ok=cfg.tie_word_embeddings,
                 config=str(d / "model_config.yaml"))
    if whisper:
        from omni_lib.encoder import WhisperEncoder
        from omni_lib.whisper_weights import load_whisper

        local = d / f"{cfg.whisper_model}.pt"
        w = load_whisper(str(local) if local.is_file() else cfg.whisper_model)
        model.attach_whisper(WhisperEncoder(w.encoder, window_s=cfg.whisper_window_s))
    return model.eval()


def omni_from_text_lm(cls, lm, cfg: OmniConfig | None = None, *, seed: int = 0):
    """Any Hugging Face causal LM -> an OmniModel whose text side is that LM (see ``OmniModel.from_text_lm``)."""
    from transformers import AutoModelForCausalLM

    if isinstance(lm, (str, Path)):
        lm = AutoModelForCausalLM.from_pretrained(str(lm), dtype=torch.float32)
    hf = lm.config
    text_vocab = lm.get_input_embeddings().weight.shape[0]
    n_head = hf.num_attention_heads
    base = cfg or OmniConfig.from_preset("mini-omni")
    cfg = OmniConfig(**{**base.to_dict(), **dict(
        n_layer=hf.num_hidden_layers, n_embd=hf.hidden_size, n_head=n_head,
        n_query_groups=getattr(hf, "num_key_value_heads", n_head),
        head_size=getattr(hf, "head_dim", None) or hf.hidden_size // n_head,
        intermediate_size=hf.intermediate_size, norm_eps=getattr(hf, "rms_norm_eps", base.norm_eps),
        rope_base=float((getattr(hf, "rope_parameters", None) or {}).get("rope_theta", base.rope_base)),
        block_size=min(base.block_size, getattr(hf, "max_position_embeddings", base.block_size)),
        text_vocab_size=text_vocab + base.n_text_specials,
        tie_word_embeddings=bool(getattr(hf, "tie_word_embeddings", False)),
        qkv_bias=getattr(hf, "model_type", "") == "qwen2")})
    backbone = lm.get_decoder() if hasattr(lm, "get_decoder") else lm.model
    old_emb = backbone.get_input_embeddings().weight.detach()
    old_head = lm.get_output_embeddings().weight.detach()
    g = torch.Generator().manual_seed(seed)
    # New rows (specials + audio) start like the existing ones: same mean and spread.
    new_emb = _extend(old_emb, cfg.padded_vocab_size, g)
    backbone.set_input_embeddings(torch.nn.Embedding.from_pretrained(new_emb, freeze=False))
    backbone.config.vocab_size = cfg.padded_vocab_size
    model = cls(cfg, backbone)
    if not cfg.tie_word_embeddings:
        with torch.no_grad():
            model.lm_head.weight.copy_(_extend(old_head, cfg.padded_vocab_size, g))
    return model


def _extend(rows: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    extra = torch.randn(n - rows.shape[0], rows.shape[1], generator=g) * rows.std() + rows.mean()
    return torch.cat([rows, extra.to(rows.dtype)])
