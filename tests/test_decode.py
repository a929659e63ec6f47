"""Decoding against a straightforward step-by-step implementation of spec §7 on the release
stand-in (full recomputation every step with the plain forward of test_model.py, no KV cache),
plus the rules (text end, stops, batch-parallel feed-back) on a scripted model, and bad input."""

import warnings

import pytest
import torch

from omni_lib.config import OmniConfig
from omni_lib.decode import Request, Sampling, SamplingParams, decode_steps, generate, generate_batch, sample
from omni_lib.model import OmniModel, OmniOutput
from omni_lib.tokens import TokenSpace, build_batch_parallel, build_input

from release_fixture import write_release
from test_model import TINY, reference_logits

CFG = OmniConfig.from_preset("mini-omni", **TINY)
TS = TokenSpace(CFG)
OFFSETS = torch.tensor([CFG.text_vocab_size + CFG.audio_vocab_size * j for j in range(7)])
PAD_A = TS.pad_a + OFFSETS


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    d = tmp_path_factory.mktemp("release")
    sd = write_release(d, CFG, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sd, OmniModel.from_mini_omni(d, whisper=False)


def spec_decode(sd, task, feats=None, text_ids=(), steps=30, batch_parallel=False):
    """Spec §7, plainly: recompute everything each step, greedy, the rules in order."""
    if batch_parallel:
        ids = build_batch_parallel(CFG, n_audio=len(feats))
    elif feats is not None:
        ids = build_input(task, CFG, n_audio=len(feats))[None]
    else:
        ids = build_input(task, CFG, text_ids=text_ids)[None]
    B = ids.shape[0]
    f = None if feats is None else feats[None].expand(B, -1, -1)
    lengths = None if feats is None else torch.full((B,), len(feats))
    speaks = task in ("A1A2", "T1A2")
    out, text_end = [], False
    for s in range(steps):
        text_logits, audio_logits = reference_logits(sd, CFG, ids, f, lengths)
        a = audio_logits[:, :, -1].argmax(-1)[0]                     # audio from row 0
        t = int(text_logits[:, -1].argmax(-1)[-1])                   # text from the last row (row 1 if batch-parallel)
        if s > 0:
            if text_end:
                t = TS.pad_t
            if speaks and int(a[6]) == TS.eoa:
                break
            if not speaks and t == TS.eot:
                break
            if t == TS.eot:
                text_end = True
        out.append(a.tolist() + [t])
        col = torch.empty(B, 8, 1, dtype=torch.long)
        col[:, 7, 0] = t
        col[0, :7, 0] = a + OFFSETS if speaks else PAD_A
        if B == 2:
            col[1, :7, 0] = PAD_A
        ids = torch.cat([ids, col], -1)
    return torch.tensor(out).T                                       # (8, S)


@pytest.mark.parametrize("task", ["A1A2", "A1T2", "ASR", "T1A2", "T1T2"])
def test_tokens_equal_the_spec_loop(release, task):
    sd, model = release
    g = torch.Generator().manual_seed(7)
    feats = torch.randn(5, CFG.whisper_dim, generator=g) if task in ("A1A2", "A1T2", "ASR") else None
    text = torch.randint(0, 200, (4,), generator=g).tolist()
    kw = dict(audio_features=feats) if feats is not None else dict(text_ids=text)
    ours = generate(model, task, max_new_steps=32, **kw)
    spec = spec_decode(sd, task, feats, text, steps=32)
    assert ours.tokens.shape[1] >= 1
    assert torch.equal(ours.tokens, spec), f"{task}: first differing step {(ours.tokens != spec).any(0).nonzero()[:1]}"


def test_batch_parallel_equals_the_spec_loop(release):
    sd, model = release
    feats = torch.randn(6, CFG.whisper_dim, generator=torch.Generator().manual_seed(8))
    ours = generate(model, "A1A2", audio_features=feats, max_new_steps=32, batch_parallel=True)
    spec = spec_decode(sd, "A1A2", feats, steps=32, batch_parallel=True)
    assert torch.equal(ours.tokens, spec)
    assert ours.frames.shape == (7, ours.steps - 7)


def test_batch_parallel_runs_the_shared_prompt_prefix_once(release):
    _, model = release
    feats = torch.randn(6, CFG.whisper_dim, generator=torch.Generator().manual_seed(8))
    shapes = []
    hook = model.backbone.layers[0].self_attn.q_proj.register_forward_pre_hook(
        lambda mod, args: shapes.append(tuple(args[0].shape[:2])))
    try:
        shared = [s.audio.tolist() + [s.text] for s in decode_steps(model, [Request("A1A2", feats)],
                                                                      max_new_steps=12, batch_parallel=True)]
        n_shared = len(shapes)
        full = [s.audio.tolist() + [s.text] for s in decode_steps(model, [Request("A1A2", feats)], max_new_steps=12,
                                                                    batch_parallel=True, share_prefix=False)]
    finally:
        hook.remove()
    T = build_batch_parallel(CFG, n_audio=6).shape[-1]
    assert shapes[:2] == [(1, T - 1), (2, 1)] and shapes[n_shared] == (2, T)   # prefix once, then the last column
    assert shared == full


def test_a_batch_of_requests_equals_one_at_a_time(release):
    _, model = release
    g = torch.Generator().manual_seed(9)
    reqs = [Request("ASR", torch.randn(4, CFG.whisper_dim, generator=g)),
            Request("T1A2", text_ids=(5, 6, 7, 8, 9, 10, 11)),
            Request("A1A2", torch.randn(9, CFG.whisper_dim, generator=g)),
            Request("T1T2", text_ids=(3,))]
    together = generate_batch(model, reqs, max_new_steps=20)
    for r, got in zip(reqs, together):
        alone = generate_batch(model, [r], max_new_steps=20)[0]
        assert torch.equal(got.tokens, alone.tokens), r.task


# ---------------------------------------------------------------------------------- rules
class Scripted(OmniModel):
    """An OmniModel whose logits follow a script: step s predicts script[s] (text, audio layer 6);
    records what is fed back. Exercises the rules without depending on random weights."""

    def __init__(self, cfg, script):
        super().__init__(cfg)
        self.script, self.fed, self.calls = script, [], 0

    def forward(self, ids, *args, inputs_embeds=None, **kw):
        if ids is not None:
            self.fed.append(ids[:, :, -1].clone())
        B = (ids if ids is not None else inputs_embeds).shape[0]
        text, a6 = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        tl = torch.zeros(B, 1, self.cfg.text_vocab_size)
        tl[..., text] = 1
        al = torch.zeros(B, 7, 1, self.cfg.audio_vocab_size)
        al[:, :6, :, 11] = 1                                          # layers 0..5 say 11
        al[:, 6, :, a6] = 1
        return OmniOutput(tl, al, past_key_values=None)


def test_text_end_and_eoa_stop_rules():
    cfg = OmniConfig.from_preset("tiny", n_layer=1)
    ts = TokenSpace(cfg)
    script = [(ts.eot, 0), (40, 1), (ts.eot, 2), (41, 3), (42, 4), (43, ts.eoa), (44, 5)]
    m = Scripted(cfg, script).eval()
    out = generate(m, "T1A2", text_ids=[1, 2], max_new_steps=50)
    # step 0 (eot) is kept unchecked; step 2's eot is kept and ends the text; then pad_t; eoa at step 5 stops
    assert out.tokens[7].tolist() == [ts.eot, 40, ts.eot, ts.pad_t, ts.pad_t]
    assert out.tokens[6].tolist() == [0, 1, 2, 3, 4] and out.stop == "eoa"
    assert out.text_ids == []                                         # cut at the first eot
    # fed back: sampled audio (shifted) and the forced text
    assert m.fed[3][0, 7].item() == ts.pad_t and m.fed[3][0, 6].item() == ts.audio_id(3, 6)


def test_text_task_stops_on_eot_and_feeds_pad_a():
    cfg = OmniConfig.from_preset("tiny", n_layer=1)
    ts = TokenSpace(cfg)
    m = Scripted(cfg, [(30, 0), (31, 0), (32, 0), (ts.eot, 0), (33, 0)]).eval()
    out = generate(m, "T1T2", text_ids=[1], max_new_steps=50)
    assert out.text_ids == [30, 31, 32] and out.stop == "eot" and out.frames.shape == (7, 0)
    assert all(torch.equal(f[0, :7], torch.tensor([ts.audio_id(ts.pad_a, i) for i in range(7)])) for f in m.fed)


def test_batch_parallel_feed_back():
    cfg = OmniConfig.from_preset("tiny", n_layer=1)
    ts = TokenSpace(cfg)
    m = Scripted(cfg, [(30, 0), (31, 1), (32, 2)]).eval()
    generate(m, "A1A2", audio_features=torch.zeros(3, cfg.whisper_dim), max_new_steps=3, batch_parallel=True)
    fed = m.fed[0]                                                   # (2, 8)
    assert fed[0, 6].item() == ts.audio_id(0, 6) and fed[1, 6].item() == ts.audio_id(ts.pad_a, 6)
    assert fed[0, 7].item() == fed[1, 7].item() == 30


# ---------------------------------------------------------------------------------- bad input
def test_bad_input(release):
    _, model = release
    with pytest.raises(ValueError, match="exceeds the context of 128"):
        generate(model, "T1T2", text_ids=[1, 2], max_new_steps=200)
    with pytest.raises(ValueError, match="text_ids is empty"):
        generate(model, "T1A2", text_ids=[])
    with pytest.raises(ValueError, match="takes speech"):
        generate(model, "ASR")
    with pytest.raises(ValueError, match="one A1A2 request"):
        generate(model, "T1A2", text_ids=[1], batch_parallel=True)
    with pytest.raises(TypeError, match="needs an OmniModel"):
        list(decode_steps(torch.nn.Linear(2, 2), [Request("T1T2", text_ids=(1,))]))
    with pytest.raises(ValueError, match="bad sampling"):
        SamplingParams(temperature=-1)


def test_abandoned_stream_leaves_no_state(release):
    _, model = release
    first = generate(model, "T1A2", text_ids=[5, 6], max_new_steps=12)
    steps = decode_steps(model, [Request("T1A2", text_ids=(9, 9, 9))], max_new_steps=30)
    next(steps), next(steps)
    steps.close()                                                    # abandoned half-way
    again = generate(model, "T1A2", text_ids=[5, 6], max_new_steps=12)
    assert torch.equal(first.tokens, again.tokens)


def test_sampling_filters():
    logits = torch.tensor([[0.0, 5.0, 4.9, -3.0]])
    assert sample(logits, SamplingParams()).item() == 1
    g = torch.Generator().manual_seed(0)
    draws = {sample(logits, SamplingParams(temperature=1.0, top_k=2), g).item() for _ in range(200)}
    assert draws == {1, 2}
    draws = {sample(logits, SamplingParams(temperature=1.0, top_p=0.3), g).item() for _ in range(100)}
    assert draws == {1}


def test_seeded_sampling_is_reproducible(release):
    _, model = release
    s = Sampling(text=SamplingParams(temperature=1.0), audio=SamplingParams(temperature=1.0, top_k=50), seed=3)
    a = generate(model, "T1A2", text_ids=[5], max_new_steps=15, sampling=s)
    b = generate(model, "T1A2", text_ids=[5], max_new_steps=15, sampling=s)
    c = generate(model, "T1A2", text_ids=[5], max_new_steps=15)
    assert torch.equal(a.tokens, b.tokens) and not torch.equal(a.tokens, c.tokens)
