"""A stand-in for the released Mini-Omni checkpoint: the exact LitGPT key layout and config file,
random weights. The real ``gpt-omni/mini-omni`` cannot be downloaded on the test machines; this
has the same names, shapes and dtypes (at any size), and ``lm_head`` deliberately differs from
``wte`` so that the tie rule is exercised. Written independently of ``omni_lib.checkpoint``.
"""

from pathlib import Path

import torch
import yaml


def release_config(cfg) -> dict:
    """The fields of the release's ``model_config.yaml`` (LitGPT names) for the sizes of ``cfg``."""
    return {
        "name": "mini-omni-standin", "block_size": cfg.block_size, "n_layer": cfg.n_layer, "n_embd": cfg.n_embd,
        "n_head": cfg.n_head, "head_size": cfg.head_size, "n_query_groups": cfg.n_query_groups,
        "intermediate_size": cfg.intermediate_size, "rope_base": int(cfg.rope_base), "norm_eps": cfg.norm_eps,
        "norm_class_name": "RMSNorm", "mlp_class_name": "LLaMAMLP", "rotary_percentage": 1.0,
        "parallel_residual": False, "bias": False, "add_qkv_bias": True, "lm_head_bias": False,
        "scale_embeddings": False, "tie_word_embeddings": True, "asr_adapter": "llamamlp",
        "text_vocab_size": cfg.text_vocab_size, "audio_vocab_size": cfg.audio_vocab_size,
        "cat_audio_vocab_size": 7 * cfg.audio_vocab_size, "padded_vocab_size": cfg.padded_vocab_size,
        "vocab_size": cfg.padded_vocab_size, "whisper_adapter_dim": cfg.whisper_dim,
        "post_adapter": False, "post_adapter_layers": 6,
    }


def release_state_dict(cfg, seed: int = 0, emb_std: float = 0.5) -> dict[str, torch.Tensor]:
    """Random fp32 tensors under the release's exact keys (spec §4).

    ``emb_std`` sets the scale of the (tied) table and so of the logits: 0.5 spreads the logits of
    small test models; 0.02 (Qwen2's initializer range) keeps 24 full-width layers at realistic
    logit sizes, where fp32 rounding stays far below the tests' 1e-4.
    """
    g = torch.Generator().manual_seed(seed)
    d, V = cfg.n_embd, cfg.padded_vocab_size
    qkv = (cfg.n_head + 2 * cfg.n_query_groups) * cfg.head_size

    def w(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std

    def norm():
        return 1.0 + 0.1 * torch.randn(d, generator=g)

    sd = {"transformer.wte.weight": w(V, d, std=emb_std), "lm_head.weight": w(V, d, std=emb_std),
          "transformer.ln_f.weight": norm(),
          "whisper_adapter.fc_1.weight": w(cfg.intermediate_size, cfg.whisper_dim, std=0.05),
          "whisper_adapter.fc_2.weight": w(cfg.intermediate_size, cfg.whisper_dim, std=0.05),
          "whisper_adapter.proj.weight": w(d, cfg.intermediate_size, std=0.05)}
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}."
        sd.update({p + "norm_1.weight": norm(), p + "norm_2.weight": norm(),
                   p + "attn.attn.weight": w(qkv, d, std=0.08), p + "attn.attn.bias": w(qkv, std=0.1),
                   p + "attn.proj.weight": w(d, cfg.n_head * cfg.head_size, std=0.05),
                   p + "mlp.fc_1.weight": w(cfg.intermediate_size, d, std=0.05),
                   p + "mlp.fc_2.weight": w(cfg.intermediate_size, d, std=0.05),
                   p + "mlp.proj.weight": w(d, cfg.intermediate_size, std=0.05)})
    return sd


def write_release(directory: Path, cfg, seed: int = 0, emb_std: float = 0.5) -> dict[str, torch.Tensor]:
    """Write ``lit_model.pth`` + ``model_config.yaml`` like the release; return the state dict."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sd = release_state_dict(cfg, seed, emb_std)
    torch.save(sd, directory / "lit_model.pth")
    (directory / "model_config.yaml").write_text(yaml.safe_dump(release_config(cfg)))
    return sd
