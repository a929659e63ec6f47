"""The Omni model against an independent, straightforward implementation of the spec's forward
pass (spec §3, §4), computed directly from the release's LitGPT state dict.

The reference below knows nothing of omni_lib's model: it reads the fused QKV matrix per KV group,
applies RoPE (base 1e6, rotate-half), RMSNorm in fp32, the 8-row mean with the adapter splice,
and slices the *wte* head (the tie rule). The real checkpoint is not reachable on test machines,
so the weights are a random stand-in with the exact key layout (tests/release_fixture.py).
"""

import math

import pytest
import torch

from omni_lib.config import OmniConfig
from omni_lib.model import OmniModel
from omni_lib.tokens import SPEECH_IN_TASKS, TASKS, build_batch_parallel, build_input

from release_fixture import write_release

TINY = dict(n_layer=2, n_embd=64, n_head=4, n_query_groups=2, head_size=16, intermediate_size=96,
            adapter_intermediate_size=96, whisper_dim=32, block_size=128, text_vocab_size=320)


# ------------------------------------------------------------------------ the spec, written plainly
def rms_norm(x, w, eps):
    x32 = x.float()
    return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rope(x, pos, base):                                   # x (B, H, T, hs), rotate-half over all dims
    hs = x.shape[-1]
    inv = 1.0 / base ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs)
    ang = pos[:, None].double() * inv[None]               # (T, hs/2)
    cos, sin = torch.cat([ang, ang], -1).cos().float(), torch.cat([ang, ang], -1).sin().float()
    x1, x2 = x[..., : hs // 2], x[..., hs // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def reference_logits(sd, cfg, ids, feats=None, lengths=None):
    """ids (B, 8, T); feats (B, L, D_whisper); returns text (B, T, Vt) and audio (B, 7, T, 4160)."""
    B, _, T = ids.shape
    H, G, hs = cfg.n_head, cfg.n_query_groups, cfg.head_size
    wte = sd["transformer.wte.weight"]
    x = wte[ids].clone()                                  # (B, 8, T, d)
    if feats is not None:
        fc1, fc2, proj = (sd[f"whisper_adapter.{n}.weight"] for n in ("fc_1", "fc_2", "proj"))
        a = (torch.nn.functional.silu(feats @ fc1.T) * (feats @ fc2.T)) @ proj.T
        for b in range(B):
            L = int(lengths[b])
            for row in range(7):                          # audio rows only; text row keeps pad_t
                x[b, row, 1 : L + 1] = a[b, :L]
    x = x.sum(1) / 8
    pos = torch.arange(T)
    causal = torch.full((T, T), float("-inf")).triu(1)
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}."
        h = rms_norm(x, sd[p + "norm_1.weight"], cfg.norm_eps)
        qkv = (h @ sd[p + "attn.attn.weight"].T + sd[p + "attn.attn.bias"]).view(B, T, G, H // G + 2, hs)
        q = qkv[:, :, :, : H // G].reshape(B, T, H, hs).transpose(1, 2)        # head h in group h // (H/G)
        k = qkv[:, :, :, H // G].transpose(1, 2)                                 # (B, G, T, hs)
        v = qkv[:, :, :, H // G + 1].transpose(1, 2)
        q, k = rope(q, pos, cfg.rope_base), rope(k, pos, cfg.rope_base)
        k, v = k.repeat_interleave(H // G, 1), v.repeat_interleave(H // G, 1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hs) + causal, -1)
        y = (att @ v).transpose(1, 2).reshape(B, T, H * hs)
        x = x + y @ sd[p + "attn.proj.weight"].T
        h = rms_norm(x, sd[p + "norm_2.weight"], cfg.norm_eps)
        x = x + (torch.nn.functional.silu(h @ sd[p + "mlp.fc_1.weight"].T) * (h @ sd[p + "mlp.fc_2.weight"].T)) \
            @ sd[p + "mlp.proj.weight"].T
    logits = rms_norm(x, sd["transformer.ln_f.weight"], cfg.norm_eps) @ wte.T   # tied: wte, not lm_head
    Vt, A = cfg.text_vocab_size, cfg.audio_codebook_size + 64
    audio = torch.stack([logits[..., Vt + A * j : Vt + A * (j + 1)] for j in range(7)], 1)
    return logits[..., :Vt], audio


# ------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def release(tmp_path_factory):
    cfg = OmniConfig.from_preset("mini-omni", **TINY)
    d = tmp_path_factory.mktemp("release")
    sd = write_release(d, cfg, seed=0)
    with pytest.warns(UserWarning, match="lm_head.weight differs from transformer.wte.weight"):
        model = OmniModel.from_mini_omni(d, whisper=False)
    return cfg, sd, model


def prompt(task, cfg, g, L=5, n_text=4):
    if task in SPEECH_IN_TASKS:
        return build_input(task, cfg, n_audio=L)[None], torch.randn(1, L, cfg.whisper_dim, generator=g)
    return build_input(task, cfg, text_ids=torch.randint(0, 200, (n_text,), generator=g).tolist())[None], None


# ------------------------------------------------------------------------ tests
@pytest.mark.parametrize("task", TASKS)
def test_logits_equal_the_spec_for_every_task(release, task):
    cfg, sd, model = release
    g = torch.Generator().manual_seed(1)
    ids, feats = prompt(task, cfg, g)
    # answer tokens after the prompt too, so the test covers generated positions
    ids = torch.cat([ids, ids[..., -3:]], dim=-1)
    lengths = None if feats is None else torch.tensor([feats.shape[1]])
    with torch.no_grad():
        out = model(ids, feats)
    text, audio = reference_logits(sd, cfg, ids, feats, lengths)
    torch.testing.assert_close(out.text_logits, text, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.audio_logits, audio, atol=1e-4, rtol=0)


def test_batch_parallel_and_mixed_lengths(release):
    cfg, sd, model = release
    g = torch.Generator().manual_seed(2)
    ids = build_batch_parallel(cfg, n_audio=6)                        # (2, 8, 9)
    feats = torch.randn(2, 6, cfg.whisper_dim, generator=g)
    lengths = torch.tensor([6, 4])                                   # row 1 splices only 4 vectors
    with torch.no_grad():
        out = model(ids, feats, lengths)
    text, audio = reference_logits(sd, cfg, ids, feats, lengths)
    torch.testing.assert_close(out.text_logits, text, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.audio_logits, audio, atol=1e-4, rtol=0)


def test_kv_cache_decoding_equals_full_forward(release):
    cfg, _, model = release
    g = torch.Generator().manual_seed(3)
    ids, feats = prompt("A1A2", cfg, g, L=6)
    steps = torch.randint(0, cfg.padded_vocab_size, (1, 8, 10), generator=g)
    steps[:, 7] %= cfg.text_vocab_size                                # any ids in each row's range
    for j in range(7):
        steps[:, j] = steps[:, j] % cfg.audio_vocab_size + cfg.audio_start + j * cfg.audio_vocab_size
    full_ids = torch.cat([ids, steps], -1)
    with torch.no_grad():
        full = model(full_ids, feats)
        out = model(ids, feats, use_cache=True)
        cache, text, audio = out.past_key_values, [out.text_logits], [out.audio_logits]
        for s in range(steps.shape[-1]):
            o = model(steps[..., s : s + 1], past_key_values=cache, use_cache=True)
            cache = o.past_key_values
            text.append(o.text_logits)
            audio.append(o.audio_logits)
    torch.testing.assert_close(torch.cat(text, 1), full.text_logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.cat(audio, 2), full.audio_logits, atol=1e-4, rtol=0)
    with torch.no_grad():
        last = model(full_ids, feats, last_only=True)
    torch.testing.assert_close(last.text_logits, full.text_logits[:, -1:], atol=1e-5, rtol=0)


def test_tie_rule_uses_wte(release):
    cfg, sd, model = release
    assert model.lm_head.weight is model.backbone.embed_tokens.weight
    assert torch.equal(model.lm_head.weight, sd["transformer.wte.weight"])


def test_save_and_from_pretrained_round_trip(release, tmp_path):
    cfg, _, model = release
    model.save_pretrained(tmp_path / "ours")
    back = OmniModel.from_pretrained(tmp_path / "ours")
    ids = build_input("T1A2", cfg, text_ids=[5, 6, 7])
    with torch.no_grad():
        assert torch.equal(back(ids).audio_logits, model(ids).audio_logits)
    assert back.lm_head.weight is back.backbone.embed_tokens.weight


def test_litgpt_export_round_trips(release):
    from omni_lib.checkpoint import omni_to_litgpt

    cfg, sd, model = release
    out = omni_to_litgpt(model)
    assert set(out) == set(sd)
    for k, v in out.items():
        expected = sd["transformer.wte.weight"] if k == "lm_head.weight" else sd[k]   # the tie rule
        assert torch.equal(v, expected), k


def test_param_counts_of_the_released_shape():
    """Spec §3: 532,010,880 parameters with tied storage; the backbone is Qwen2-0.5B's 494.0 M."""
    with torch.device("meta"):
        model = OmniModel(OmniConfig.from_preset("mini-omni"))
    assert sum(p.numel() for p in model.parameters()) == 532_010_880
    parts = model.param_breakdown()
    cfg = model.cfg
    qwen2_text_rows = cfg.text_special_start * cfg.n_embd           # Qwen2-0.5B's own 151,936-row table
    assert parts["transformer blocks + final norm"] + qwen2_text_rows == 494_032_768
    assert parts["speech adapter"] == 2 * 768 * 4864 + 4864 * 896


def test_from_text_lm_qwen2_and_llama(tmp_path):
    """'Any model can talk': a tiny random Qwen2 and a tiny random Llama gain the audio rows."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    small = dict(vocab_size=500, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    for lm in (Qwen2ForCausalLM(Qwen2Config(**small, tie_word_embeddings=True)),
               LlamaForCausalLM(LlamaConfig(**small, tie_word_embeddings=False))):
        lm.eval()
        path = tmp_path / lm.config.model_type
        lm.save_pretrained(path)
        model = OmniModel.from_text_lm(path, OmniConfig.from_preset("tiny"))
        cfg = model.cfg
        assert cfg.text_special_start == 500 and cfg.padded_vocab_size == 564 + 7 * 4160
        assert cfg.tie_word_embeddings == lm.config.tie_word_embeddings
        # The text rows are the LM's: on plain text ids the text logits are the LM's logits
        # (with all 8 rows set to the same text id, the mean is that id's embedding).
        text = torch.randint(0, 500, (1, 12), generator=torch.Generator().manual_seed(0))
        ids = text[:, None].expand(1, 8, 12)
        with torch.no_grad():
            ours = model(ids).text_logits[..., :500]
            theirs = lm(text).logits
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
        g = torch.Generator().manual_seed(1)
        feats = torch.randn(1, 4, cfg.whisper_dim, generator=g)
        with torch.no_grad():
            out = model(build_input("A1A2", cfg, n_audio=4), feats)
        assert out.audio_logits.shape == (1, 7, 7, 4160) and torch.isfinite(out.audio_logits).all()


def test_tts_adapter_is_optional_and_works():
    cfg = OmniConfig.from_preset("tiny", n_layer=1, tts_adapter_layers=2)
    model = OmniModel(cfg).eval()
    assert "TTS adapter" in model.param_breakdown()
    assert OmniModel(OmniConfig.from_preset("tiny", n_layer=1)).tts_adapter is None   # off by default
    ids = build_input("T1A2", cfg, text_ids=[1, 2, 3])
    with torch.no_grad():
        full = model(ids)
        o = model(ids[..., :-1], use_cache=True)
        step = model(ids[..., -1:], past_key_values=o.past_key_values, use_cache=True)
    torch.testing.assert_close(step.audio_logits[:, :, -1], full.audio_logits[:, :, -1], atol=1e-4, rtol=0)
