"""The decode benchmark's own logic, on tiny models: the fast path, the plain loop and the
reference-style decode give the same greedy tokens; the int8 layers stay close to float; the
command runs and prints every field. No timing is asserted (shared machines are noisy)."""

import json
import warnings

import pytest
import torch

from omni_lib import bench
from omni_lib.config import OmniConfig
from omni_lib.decode import Request, generate_batch
from omni_lib.model import Int8Linear, KVCache, OmniModel, quantize_int8

CFG = OmniConfig.from_preset("tiny", n_layer=2)


@pytest.fixture(scope="module")
def model():
    return bench.build_model(CFG, seed=3)


@pytest.fixture(scope="module")
def feats():
    return torch.randn(9, CFG.whisper_dim, generator=torch.Generator().manual_seed(5))


def test_fast_plain_and_reference_style_give_the_same_tokens(model, feats):
    fast = bench.time_ours(model, feats, 24)
    plain = bench.time_ours(model, feats, 24, fast=False)
    ref = bench.time_reference_style(model, feats, 24)
    assert len(fast["tokens"]) == 24 and len(fast["step_ms"]) == 23
    assert fast["tokens"] == plain["tokens"] == ref["tokens"]
    assert bench._agreement(fast["tokens"], ref["tokens"]) == {"equal_steps": 24, "of": 24}


def test_build_model_never_stops_early(model, feats):
    # the eoa row of audio layer 6 is zeroed, so a random model runs the full number of steps
    assert len(bench.time_ours(model, feats, 40)["tokens"]) == 40


def test_fast_path_equals_plain_for_a_left_padded_batch(model):
    g = torch.Generator().manual_seed(6)
    reqs = [Request("ASR", torch.randn(4, CFG.whisper_dim, generator=g)), Request("T1A2", text_ids=(5, 6, 7, 8, 9)),
            Request("A1A2", torch.randn(11, CFG.whisper_dim, generator=g)), Request("T1T2", text_ids=(3,))]
    fast = generate_batch(model, reqs, max_new_steps=15)
    plain = generate_batch(model, reqs, max_new_steps=15, fast=False)
    for a, b in zip(fast, plain):
        assert torch.equal(a.tokens, b.tokens), a.task


def test_sliced_heads_equal_the_full_head(model):
    ids = torch.randint(0, CFG.text_vocab_size, (2, 8, 6))
    full = model(ids, last_only=True)
    part = model(ids, last_only=True, text_rows=[1], audio_rows=[0])
    assert torch.allclose(part.text_logits, full.text_logits[1:], atol=1e-5)
    assert torch.allclose(part.audio_logits, full.audio_logits[:1], atol=1e-5)
    none = model(ids, last_only=True, text_rows=[], audio_rows=[1, 0])
    assert none.text_logits.shape[0] == 0 and torch.allclose(none.audio_logits, full.audio_logits[[1, 0]], atol=1e-5)


def test_kv_cache_step_by_step_equals_full_forward(model):
    ids = torch.randint(0, CFG.text_vocab_size, (2, 8, 7))
    full = model(ids).text_logits                                       # (2, 7, V)
    cache = model.new_kv_cache(2, 16)
    out = model(ids[..., :4], past_key_values=cache)
    got = [out.text_logits]
    for t in range(4, 7):
        got.append(model(ids[..., t:t + 1], past_key_values=cache).text_logits)
    assert cache.length == 7 and cache.nbytes() == 2 * cache.k.numel() * 4
    assert torch.allclose(torch.cat(got, 1), full, atol=1e-4)
    with pytest.raises(ValueError, match="holds 16 positions"):
        model(torch.randint(0, 10, (2, 8, 10)), past_key_values=cache)


def test_kv_cache_mask():
    c = KVCache(1, 2, 1, 5, 4, torch.float32)
    assert c.mask(3, 4) is None                                         # one query, no padding: no mask
    c.valid[0, 0] = False
    c.padded = True
    m = c.mask(0, 3)[:, 0]                                               # (B, T, S)
    assert m[0].tolist() == [[True, False, False], [False, True, False], [False, True, True]]
    assert m[1].tolist() == [[True, False, False], [True, True, False], [True, True, True]]


def test_int8_linear_is_close_and_slices_rows():
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 300, bias=True)
    q = Int8Linear(lin, [(0, 200), (200, 300)])
    x = torch.randn(2, 1, 64)
    ref = lin(x).detach()
    y = q(x)
    assert y.shape == ref.shape and ((y - ref).norm() / ref.norm()) < 0.03
    assert torch.allclose(q.forward_rows(x, 200, 300), y[..., 200:], atol=1e-6)
    with pytest.raises(ValueError, match="were not packed"):
        q.forward_rows(x, 0, 100)
    with pytest.raises(ValueError, match="must cover"):
        Int8Linear(lin, [(0, 100)])
    assert q.weight_bytes == 300 * (64 + 8)


def test_quantized_model_decodes_and_reads_fewer_bytes(feats):
    m = bench.build_model(CFG, seed=3)
    before = bench.weight_bytes_per_step(m)
    quantize_int8(m)
    after = bench.weight_bytes_per_step(m)
    assert after < before / 3
    fast = bench.time_ours(m, feats, 10)
    ref = bench.time_reference_style(m, feats, 10)
    assert fast["tokens"] == ref["tokens"]                               # same int8 weights, same tokens
    with pytest.raises(ValueError, match="TTS adapter"):
        quantize_int8(OmniModel(OmniConfig.from_preset("tiny", n_layer=1, tts_adapter_layers=1)))


def test_weight_bytes_per_step_counts_blocks_and_the_whole_head(model):
    d, V = CFG.n_embd, CFG.padded_vocab_size
    blocks = sum(p.numel() for p in model.backbone.layers.parameters()) + d
    assert bench.weight_bytes_per_step(model) == 4 * (blocks + V * d)


def test_the_command_prints_every_field(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert bench.main(["decode", "--preset", "tiny", "--steps", "5", "--rounds", "1", "--threads", "1",
                           "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("bandwidth_gb_s", "bound_steps_per_s", "weight_mb_per_step", "peak_rss_mb", "real_time_steps_per_s"):
        assert r[key] > 0, key
    for name in ("ours", "plain", "reference_fp32"):
        assert {"prefill_ms", "ms_per_step", "steps_per_s", "fraction_of_bound"} <= set(r[name]), name
    assert r["plain"]["tokens_vs_ours"] == r["reference_fp32"]["tokens_vs_ours"] == {"equal_steps": 5, "of": 5}
    assert {"speedup_vs_plain", "speedup_vs_reference_fp32", "real_time"} <= set(r["ours"])
    ttfa = r["time_to_first_audio"]["ours"]
    assert set(ttfa) == {"whisper_encode_ms", "prefill_ms", "first_frame_steps_ms", "context_steps_ms",
                         "snac_decode_ms", "total_ms"}
    assert ttfa["total_ms"] == pytest.approx(sum(v for k, v in ttfa.items() if k != "total_ms"), abs=0.5)
    table = bench.format_table(r)
    assert "time to first audio, ours" in table and "reference_fp32" in table
