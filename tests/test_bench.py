"""The decode benchmark's own logic, on tiny models: the fast path, the plain loop and the
reference-style decode give the same greedy tokens; the int8 layers stay close to float; the
command runs and prints every field. No timing is asserted (shared machines are noisy)."""

import json
import warnings

import pytest
import torch

from omni_lib import bench
from omni_lib import model as model_module
from omni_lib.config import OmniConfig
from omni_lib.decode import Request, generate_batch
from omni_lib.model import Int8Linear, KVCache, OmniModel, quantize_int8

CFG = OmniConfig.from_preset("tiny", n_layer=2)
HAS_VNNI = model_module._has_vnni()
# the rowwise entry runs only where VNNI exists (elsewhere it is refused, as tested below)
ENTRIES = [pytest.param("rowwise", marks=pytest.mark.skipif(not HAS_VNNI, reason="this CPU has no VNNI")), "packed"]


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


@pytest.mark.parametrize("entry", ENTRIES)
def test_int8_linear_is_close_and_slices_rows(entry):
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 300, bias=True)
    with torch.no_grad():
        lin.weight[7] = 0                                                # an all-zero row keeps its bias
        lin.weight[8] *= 50                                              # a row far larger than the rest
    q = Int8Linear(lin, [(0, 200), (200, 300)], entry=entry)
    x = torch.randn(2, 1, 64)
    ref = lin(x).detach()
    y = q(x)
    assert q.entry == entry and y.shape == ref.shape and ((y - ref).norm() / ref.norm()) < 0.03
    # every row keeps its own scale: the small rows are as close as without the large one
    small = [i for i in range(300) if i != 8]
    assert ((y - ref)[..., small].norm() / ref[..., small].norm()) < 0.03
    assert torch.allclose(y[..., 7], ref[..., 7], atol=1e-5)
    assert torch.allclose(q.forward_rows(x, 200, 300), y[..., 200:], atol=1e-6)
    with pytest.raises(ValueError, match="were not packed"):
        q.forward_rows(x, 0, 100)
    with pytest.raises(ValueError, match="must cover"):
        Int8Linear(lin, [(0, 100)], entry=entry)
    assert q.weight_bytes == 300 * (64 + 8)


@pytest.mark.skipif(not HAS_VNNI, reason="the rowwise entry needs VNNI, which this CPU lacks (refused: see below)")
def test_int8_entries_agree():
    torch.manual_seed(1)
    lin = torch.nn.Linear(96, 40, bias=False)
    x = torch.randn(3, 96)
    a, b = Int8Linear(lin, entry="rowwise")(x), Int8Linear(lin, entry="packed")(x)
    assert ((a - b).norm() / b.norm()) < 0.02


def test_int8_entry_choice_needs_vnni(monkeypatch):
    lin = torch.nn.Linear(96, 40, bias=False)
    with pytest.raises(ValueError, match="entry must be"):
        Int8Linear(lin, entry="int4")
    monkeypatch.setattr(torch.cpu, "_is_vnni_supported", lambda: False, raising=False)
    with pytest.raises(ValueError, match="needs a CPU with VNNI"):    # its 8-bit inputs would saturate
        Int8Linear(lin, entry="rowwise")
    assert model_module._fbgemm_int8_entry() == "packed"           # 8-bit inputs without VNNI could overflow
    monkeypatch.setattr(torch.cpu, "_is_vnni_supported", lambda: True, raising=False)
    assert model_module._fbgemm_int8_entry() == "rowwise"
    monkeypatch.delattr(torch, "fbgemm_linear_int8_weight_fp32_activation")   # a torch that has removed it
    assert model_module._fbgemm_int8_entry() == "packed"


@pytest.mark.parametrize("entry", ENTRIES)
def test_quantized_model_decodes_and_reads_fewer_bytes(feats, entry):
    m = bench.build_model(CFG, seed=3)
    before = bench.weight_bytes_per_step(m)
    quantize_int8(m, entry=entry)
    assert {mod.entry for mod in m.modules() if isinstance(mod, Int8Linear)} == {entry}
    after = bench.weight_bytes_per_step(m)
    assert after < before / 3
    fast = bench.time_ours(m, feats, 10, share_prefix=False)   # int8 inputs are scaled per product: the same rows
    ref = bench.time_reference_style(m, feats, 10)
    assert fast["tokens"] == ref["tokens"]                               # same int8 weights, same tokens
    with pytest.raises(ValueError, match="TTS adapter"):
        quantize_int8(OmniModel(OmniConfig.from_preset("tiny", n_layer=1, tts_adapter_layers=1)))


def test_weight_bytes_per_step_counts_blocks_and_the_whole_head(model):
    d, V = CFG.n_embd, CFG.padded_vocab_size
    blocks = sum(p.numel() for p in model.backbone.layers.parameters()) + d
    assert bench.weight_bytes_per_step(model) == 4 * (blocks + V * d)


def test_fraction_of_bound_is_taken_per_run_against_its_own_bandwidth():
    # 100 bytes a step; run 1: 10 ms a step at 20 kB/s -> 100 steps/s of a 200 bound (0.5);
    # run 2: 20 ms at 20 kB/s -> 50 of 200 (0.25). Against one shared bandwidth the runs would differ
    # only by their step times; each run here is judged against the bandwidth sampled before it.
    runs = [{"prefill_ms": 3.0, "step_ms": [9.0, 10.0, 11.0], "bandwidth": 20_000.0},
            {"prefill_ms": 4.0, "step_ms": [20.0, 20.0, 20.0], "bandwidth": 20_000.0},
            {"prefill_ms": 5.0, "step_ms": [20.0, 20.0, 20.0], "bandwidth": 10_000.0}]
    s = bench._summary(runs, weight_bytes=100)
    assert s["fraction_of_bound"] == 0.5 and s["fraction_of_bound_range"] == [0.25, 0.5]
    assert s["ms_per_step"] == 20.0 and s["prefill_ms"] == 3.0
    assert bench._summary([{"step_ms": [5.0]}], None) == {"prefill_ms": None, "ms_per_step": 5.0,
                                                          "ms_per_step_mean": 5.0, "steps_per_s": 200.0}


def test_bandwidth_probe_reads_its_whole_matrix():
    probe = bench.BandwidthProbe(4)
    assert probe.nbytes == 4 * 2**20 and probe.sample(tries=3) > 0


def test_matrix_products_call_every_block_matrix_and_both_head_slices():
    m = quantize_int8(bench.build_model(CFG, seed=3))
    calls = []
    for mod in list(m.backbone.layers.modules()) + [m.lm_head]:
        if isinstance(mod, (torch.nn.Linear, Int8Linear)):
            mod.register_forward_pre_hook(lambda mod, args: calls.append(tuple(args[0].shape)))
    rows = []
    head = m._head
    m._head = lambda h, a, b: rows.append((a, b, h.shape[0])) or head(h, a, b)
    r = bench.time_matrix_products(m, 3)
    n_mats = 7 * CFG.n_layer
    assert len(r["step_ms"]) == 3 and len(calls) == 3 * n_mats and set(calls) <= {(2, 1, CFG.n_embd),
                                                                                   (2, 1, CFG.intermediate_size)}
    assert rows == 3 * [(0, CFG.text_vocab_size, 1), (CFG.audio_start, CFG.padded_vocab_size, 1)]


def test_the_command_prints_every_field(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert bench.main(["decode", "--preset", "tiny", "--steps", "5", "--rounds", "1", "--threads", "1",
                           "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("bandwidth_gb_s", "bound_steps_per_s", "weight_mb_per_step", "peak_rss_mb", "real_time_steps_per_s"):
        assert r[key] > 0, key
    for name in ("ours", "plain", "reference_fp32", "matrix_products"):
        assert {"prefill_ms", "ms_per_step", "steps_per_s", "fraction_of_bound"} <= set(r[name]), name
        lo, hi = r[name]["fraction_of_bound_range"]
        assert 0 < lo <= r[name]["fraction_of_bound"] <= hi, name
    lo, hi = r["bandwidth_gb_s_range"]
    assert lo <= r["bandwidth_gb_s"] <= hi and r["matrix_products"]["read_gb_s"] > 0
    assert r["plain"]["tokens_vs_ours"] == r["reference_fp32"]["tokens_vs_ours"] == {"equal_steps": 5, "of": 5}
    assert {"speedup_vs_plain", "speedup_vs_reference_fp32", "real_time"} <= set(r["ours"])
    table = bench.format_table(r)
    assert "ours / reference_fp32" in table and "real time" in table


# ---------------------------------------------------------------------------------- the training benchmark
from omni_lib import bench_train  # noqa: E402
from omni_lib.batches import TRAIN_TASKS, collate, make_example  # noqa: E402
from omni_lib.stages import STAGES, Stage  # noqa: E402


def test_train_command_runs_a_step_and_reports_every_figure(capsys):
    assert bench.main(["train", "--preset", "tiny", "--seq-len", "64", "--micro-batch", "2", "--steps", "1",
                       "--warmup", "1", "--threads", "1", "--grad-checkpointing", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    m, c = r["measured"], r["computed"]
    assert r["stage"] == 3 and r["task"] == "A1A2" and len(m["steps_s"]) == 1 and len(m["warmup_s"]) == 1
    assert m["step_s"] > 0 and m["peak_rss_mb"] > 0 and m["achieved_gflop_s"] > 0 and m["first_loss"] > 0
    assert (c["examples_per_step"], c["positions_per_step"], c["tokens_per_step"]) == (2, 128, 8 * 128)
    assert c["params_trained"] == c["params_total"]              # stage 3 trains everything but Whisper
    assert c["flops_per_step"]["total"] == sum(v for k, v in c["flops_per_step"].items() if k != "total")
    assert set(r["schedule"]["stages"]) == {"1", "2", "3"}                 # the paper's stages (JSON keys)
    assert "MEASURED" in bench_train.format_train(r) and "COMPUTED" in bench_train.format_train(r)


def test_train_bench_trains_only_the_stage_and_counts_its_flops():
    r = bench_train.bench_train("tiny", stage=1, task="ASR", seq_len=48, steps=1, warmup=0, threads=1)
    parts = r["computed"]["params_trained_by_part"]
    assert parts["blocks"] == parts["text rows"] == 0 and parts["adapter"] > 0 and parts["audio rows"] > 0
    cfg = OmniConfig.from_preset("tiny")
    ex = bench_train.sized_example(cfg, "ASR", 48, torch.Generator().manual_seed(0))
    (counts,) = bench_train.batch_counts(collate([ex], cfg))
    assert counts["audio_targets"] == 0 and counts["text_targets"] == 48 - (16 + 3) + 1   # ASR: text only
    assert r["computed"]["flops_per_step"] == bench_train.example_flops(cfg, STAGES["tiny"][1], **counts)


@pytest.mark.parametrize("task", TRAIN_TASKS)
def test_sized_examples_have_exactly_the_asked_positions(task):
    cfg = OmniConfig.from_preset("tiny")
    for T in (32, 100, 512):
        ex = bench_train.sized_example(cfg, task, T, torch.Generator().manual_seed(T))
        assert make_example(ex, cfg)[0].shape == (8, T), (task, T)


def test_matmul_params_equal_the_models_weights():
    cfg = OmniConfig.from_preset("tiny")
    model = OmniModel(cfg)
    p = bench_train.matmul_params(cfg)
    linear = lambda m: sum(x.weight.numel() for x in m.modules() if isinstance(x, torch.nn.Linear))   # noqa: E731
    assert p["blocks"] == linear(model.backbone.layers) == 3 * (192 * 32 * (2 * 6 + 2 * 2) + 3 * 192 * 512)
    assert p["adapter"] == linear(model.adapter) == 2 * 512 * 512 + 512 * 192
    assert (p["text_head"], p["audio_head"]) == (1024 * 192, 4160 * 192)
    big = bench_train.matmul_params(OmniConfig.from_preset("mini-omni"))
    assert big["blocks"] == 24 * (896 * 64 * 32 + 3 * 896 * 4864) == 357_826_560


def test_flop_formula_on_a_literal_example():
    cfg = OmniConfig.from_preset("tiny")
    everything = Stage("all", ("adapter", "text_rows", "audio_rows", "blocks"), {"A1A2": 1.0}, steps=1, lr=1.0,
                       min_lr=0.1, warmup=1, global_batch=1)
    f = bench_train.example_flops(cfg, everything, positions=10, speech=4, text_targets=3, audio_targets=14)
    assert f["blocks"] == 6 * 1_179_648 * 10                               # 6 · N_blocks · T
    assert f["attention"] == 12 * 3 * (6 * 32) * 10 ** 2                   # 12 · n_layer · d_attn · T²
    assert f["adapter"] == 6 * 622_592 * 4
    assert f["head"] == 6 * (196_608 * 3 + 798_720 * 14)
    assert f["total"] == 70_778_880 + 691_200 + 14_942_208 + 70_631_424
    # stage 1 of the paper: frozen blocks and text rows still pass gradients down to the adapter (4, not 6)
    assert bench_train.flop_factors(STAGES["mini-omni"][1]) == {
        "blocks": 4, "attention": 12, "adapter": 6, "text_head": 4, "audio_head": 6}
    assert bench_train.flop_factors(STAGES["mini-omni"][2])["adapter"] == 2          # frozen: forward only
    assert set(bench_train.flop_factors(STAGES["mini-omni"][3]).values()) == {6, 12}


def test_schedule_arithmetic():
    r = bench_train.schedule_row(steps=1000, global_batch=192, positions=2048, flops_per_example=5e12, hours=24)
    assert r["positions"] == 1000 * 192 * 2048 and r["tokens"] == 8 * r["positions"]
    assert r["flops_per_step"] == 192 * 5e12 and r["flops"] == 1000 * 192 * 5e12
    assert r["tokens_per_s"] == pytest.approx(8 * 1000 * 192 * 2048 / 86400, abs=1e-3)
    assert r["utilisation_needed"] == pytest.approx(9.6e17 / 86400 / (8 * 312e12), abs=1e-4)
    assert r["hours_at_40pct"] == pytest.approx(9.6e17 / (0.4 * 8 * 312e12) / 3600, abs=0.01)
    s = bench_train.paper_schedule()
    st3 = s["stages"][3]
    assert (st3["steps"], st3["global_batch"], st3["positions_per_example"]) == (55_000, 192, 2048)
    # padded to 2048, the blocks and attention dominate: 6 · 357.8 M · 2048 + 12 · 24 · 896 · 2048² per example
    core = 6 * 357_826_560 * 2048 + 12 * 24 * 896 * 2048 ** 2
    assert core < st3["flops_per_step"] / 192 < 1.05 * core


def test_eval_subcommand_forwards_its_arguments(monkeypatch, capsys):
    import sys
    import types

    seen = []
    fake = types.ModuleType("omni_lib.eval")
    fake.bench_main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "omni_lib.eval", fake)
    assert bench.main(["eval", "--preset", "tiny", "--json", "asr"]) == 0
    assert seen == [["--preset", "tiny", "--json", "asr"]]
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    assert "eval" in capsys.readouterr().out


# ---------------------------------------------------------------------------------- the latency benchmark
from omni_lib import bench_latency  # noqa: E402


def test_latency_command_pieces_add_up_and_every_piece_has_its_bound(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert bench.main(["latency", "--preset", "tiny", "--steps", "16", "--rounds", "1", "--threads", "1",
                           "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["read_bandwidth_gb_s"] > 0 and r["matmul_gflop_s"]["fp32"] > 0 and r["cpu"]["capability"]
    for name in ("fp32", "fast", "reference_fp32"):
        d = r[name]
        pieces = [d[k] for k in bench_latency.PIECES]
        assert all(p >= 0 for p in pieces) and d["whisper_ms"] > 0 and d["prefill_ms"] > 0, name
        assert d["first_audio_ms"] == pytest.approx(sum(pieces), abs=0.5), name
    for name in ("fp32", "fast"):
        assert set(r[name]["fraction_of_bound"]) == {"whisper_ms", "prefill_ms", "first_frame_ms",
                                                     "steps_after_first_audio"}
        assert all(v > 0 for v in r[name]["fraction_of_bound"].values())
        assert r[name]["steps_after_first_audio"] > 0 and r[name]["speedup_vs_reference_fp32"] > 0
    assert r["fast"]["precision"].startswith("fast: int8") and r["fp32"]["precision"] == "fp32: exact"
    table = bench_latency.format_table(r)
    assert "first audio" in table and "reference_fp32" in table


def test_flop_counts_follow_the_shapes():
    from omni_lib.config import OmniConfig

    # doubling the window doubles the linear part and quadruples the attention part
    small = bench_latency.whisper_flops("base", 4.0)
    assert bench_latency.whisper_flops("base", 8.0) > 2 * small
    cfg = OmniConfig.from_preset("tiny")
    one, two = bench_latency.prefill_flops(cfg, 50, rows=1), bench_latency.prefill_flops(cfg, 50, rows=2)
    head = 2.0 * (bench_train.matmul_params(cfg)["text_head"] + 7 * bench_train.matmul_params(cfg)["audio_head"])
    assert two - head == pytest.approx((one - head) * 51 / 50)     # the shared prefix runs once: one more position
