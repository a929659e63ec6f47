"""Training examples: targets carry the delay, masks follow the task, teacher forcing feeds back
exactly what generation would, and the sliced loss equals cross-entropy on full logits."""

import pytest
import torch
import torch.nn.functional as F

from omni_lib.batches import (IGNORE, Example, answer_grid, collate, feed_own_predictions, loss_terms, make_example,
                              positions)
from omni_lib.config import OmniConfig
from omni_lib.decode import generate
from omni_lib.model import OmniModel, OmniOutput
from omni_lib.tokens import TokenSpace

CFG = OmniConfig.from_preset("tiny", n_layer=1)
TS = TokenSpace(CFG)
G = torch.Generator().manual_seed(0)
FRAMES = torch.randint(0, 4096, (7, 5), generator=G)
FEATS = torch.randn(4, CFG.whisper_dim, generator=G)


def ex(task):
    speech_in = task in ("A1A2", "A1T2", "ASR")
    return Example(task, question=() if speech_in else (11, 12), answer=(20, 21, 22),
                   frames=FRAMES if task in ("A1A2", "T1A2", "TTS") else None, features=FEATS if speech_in else None)


def test_speech_answer_grid_is_delayed():
    grid = answer_grid(ex("T1A2"), CFG)                      # F = 5 frames -> S = 5 + 8
    assert grid.shape == (8, 13)
    assert grid[7].tolist() == [20, 21, 22, TS.eot] + [TS.pad_t] * 9
    for j in range(7):                                       # layer j: pad_a x (j+1), frames, eoa, pad_a
        assert grid[j].tolist() == [TS.pad_a] * (j + 1) + FRAMES[j].tolist() + [TS.eoa] + [TS.pad_a] * (6 - j)


@pytest.mark.parametrize("task, text, audio", [("ASR", True, False), ("A1T2", True, False), ("T1T2", True, False),
                                               ("TTS", False, True), ("A1A2", True, True), ("T1A2", True, True)])
def test_loss_masks_per_task(task, text, audio):
    ids, targets, mask = make_example(ex(task), CFG)
    assert ids.shape == targets.shape == mask.shape
    assert bool(mask[7].any()) == text and bool(mask[:7].any()) == audio
    assert (targets[mask] != IGNORE).all()
    if text:                                                  # the answer tokens and the eot, no pad_t
        assert targets[7][mask[7]].tolist() == [20, 21, 22, TS.eot]


def test_tts_prompt_speaks_its_own_text():
    ids, _, _ = make_example(ex("TTS"), CFG)
    assert ids[7, 1:4].tolist() == [20, 21, 22]              # input_t, the answer text, eot, answer_t


class Teacher(OmniModel):
    """Predicts the targets of one example, step by step: generation then feeds back what a
    perfectly trained model would, and that must equal the teacher-forced inputs."""

    def __init__(self, cfg, grid):
        super().__init__(cfg)
        self.grid, self.step, self.fed = grid, 0, []

    def forward(self, ids, *a, inputs_embeds=None, **k):
        if ids is not None:
            self.fed.append(ids[0, :, -1].clone())
        s = min(self.step, self.grid.shape[1] - 1)
        self.step += 1
        B = 1 if ids is None else ids.shape[0]
        tl = torch.zeros(B, 1, self.cfg.text_vocab_size)
        tl[..., self.grid[7, s]] = 1
        al = torch.zeros(B, 7, 1, self.cfg.audio_vocab_size)
        for j in range(7):
            al[:, j, :, self.grid[j, s]] = 1
        return OmniOutput(tl, al)


@pytest.mark.parametrize("task", ["T1A2", "A1A2", "T1T2", "A1T2"])
def test_teacher_forcing_equals_generation_feed_back(task):
    e = ex(task)
    ids, _, _ = make_example(e, CFG)
    grid = answer_grid(e, CFG)
    m = Teacher(CFG, grid).eval()
    kw = dict(audio_features=FEATS) if e.features is not None else dict(text_ids=list(e.question))
    out = generate(m, task, max_new_steps=40, **kw)
    P = ids.shape[1] - (grid.shape[1] - 1)
    fed = torch.stack(m.fed, 1)                               # (8, steps fed back)
    assert torch.equal(fed, ids[:, P:P + fed.shape[1]])
    assert fed.shape[1] == grid.shape[1] - 1                  # generation stops exactly at the last target
    assert out.text_ids == [20, 21, 22]
    if task in ("T1A2", "A1A2"):
        assert torch.equal(out.frames, FRAMES)                # the delayed targets undelay to the frames


def test_sliced_loss_equals_full_logits_cross_entropy():
    torch.manual_seed(0)
    model = OmniModel(CFG).eval()
    batch = collate([ex(t) for t in ("A1A2", "T1T2", "TTS", "ASR")], CFG)
    terms = loss_terms(model, batch)
    terms["loss"].sum().backward()
    sliced_grad = model.lm_head.weight.grad.clone()
    model.zero_grad()
    out = model(batch["ids"], batch["features"], batch["lengths"])
    full = []
    for b in range(4):
        m, tg = batch["mask"][b], batch["targets"][b]
        text = F.cross_entropy(out.text_logits[b][m[7]], tg[7][m[7]]) if m[7].any() else torch.tensor(0.0)
        aud = [F.cross_entropy(out.audio_logits[b, j][m[j]], tg[j][m[j]], reduction="sum") for j in range(7)]
        n = m[:7].sum()
        audio = torch.stack(aud).sum() / n if n else torch.tensor(0.0)
        torch.testing.assert_close(terms["text"][b], text, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(terms["audio"][b], audio, atol=1e-5, rtol=1e-5)
        full.append(text + audio)
    torch.stack(full).sum().backward()                        # the same gradients as from the full logits
    torch.testing.assert_close(sliced_grad, model.lm_head.weight.grad, atol=1e-6, rtol=1e-4)


def test_bf16_head_matches_fp32_within_bf16_rounding():
    """``head_dtype=bf16`` (train.py's CPU default with AMX) changes the head products' rounding only."""
    torch.manual_seed(0)
    model = OmniModel(CFG).eval()
    batch = collate([ex(t) for t in ("A1A2", "T1T2", "TTS", "ASR")], CFG)
    grads = []
    for dt in (None, torch.bfloat16):
        model.zero_grad()
        terms = loss_terms(model, batch, head_dtype=dt)
        terms["loss"].sum().backward()
        grads.append((terms["loss"].detach(), model.lm_head.weight.grad.clone()))
    (l32, g32), (l16, g16) = grads
    torch.testing.assert_close(l16, l32, rtol=2e-2, atol=1e-2)
    assert g16.dtype == torch.float32                         # fp32 master weights get fp32 gradients
    cos = F.cosine_similarity(g16.flatten(), g32.flatten(), dim=0)
    assert cos > 0.999, cos


def test_loss_builds_no_full_logits(monkeypatch):
    """The forward inside the loss must not compute [B, T, V] logits it would throw away (they cost
    more than the blocks); and a model with its own TTS-adapter audio head is refused, not mis-trained."""
    torch.manual_seed(0)
    model = OmniModel(CFG).eval()
    widths = []
    real = model._head
    monkeypatch.setattr(model, "_head", lambda h, a, b: widths.append(h.shape[0]) or real(h, a, b))
    loss_terms(model, collate([ex("A1A2"), ex("ASR")], CFG))
    assert widths and all(n == 0 for n in widths)            # heads applied to no batch row at all
    adapted = OmniModel(OmniConfig.from_preset("tiny", n_layer=1, tts_adapter_layers=1))
    with pytest.raises(NotImplementedError, match="TTS adapter"):
        loss_terms(adapted, collate([ex("TTS")], CFG))


def test_collate_pads_and_errors():
    batch = collate([ex("T1T2"), ex("A1A2")], CFG)
    assert batch["ids"].shape[0] == 2 and batch["lengths"].tolist() == [0, 4]
    assert not batch["mask"][0, :, batch["ids"].shape[2] - 1].any()    # padding is never a target
    with pytest.raises(ValueError, match="has no answer frames"):
        make_example(Example("T1A2", question=(1,), answer=(2,)), CFG)
    with pytest.raises(ValueError, match="has no Whisper features"):
        make_example(Example("ASR", answer=(2,)), CFG)
    with pytest.raises(ValueError, match="unknown training task"):
        make_example(Example("S2S"), CFG)


@pytest.mark.parametrize("task", ["ASR", "A1T2", "A1A2", "T1T2", "T1A2", "TTS"])
def test_positions_without_building_the_example(task):
    g = torch.Generator().manual_seed(1)
    for n_q, n_a, F, L in [(1, 1, 1, 1), (3, 9, 4, 20), (7, 2, 30, 5)]:
        ex = Example(task, question=list(range(5, 5 + n_q)), answer=list(range(5, 5 + n_a)),
                     frames=torch.randint(0, 4096, (7, F), generator=g), features=torch.randn(L, CFG.whisper_dim))
        assert positions(ex) == make_example(ex, CFG)[0].shape[1]


def test_own_predictions_replace_fed_back_audio_only():
    """Scheduled sampling: with rate 1 every fed-back audio input holds the model's own guess of the
    target before it (argmax of that layer's logits, as greedy generation would feed it); the text
    row, the prompt, the targets and the masks stay; rate 0 and text-only batches change nothing."""
    torch.manual_seed(0)
    model = OmniModel(CFG).eval()
    batch = collate([ex("T1A2"), ex("A1A2"), ex("T1T2")], CFG)
    assert feed_own_predictions(model, batch, 0.0) is batch
    text_only = collate([ex("T1T2"), ex("ASR")], CFG)
    assert feed_own_predictions(model, text_only, 1.0) is text_only
    fed = feed_own_predictions(model, batch, 1.0, torch.Generator().manual_seed(0))
    logits = model(batch["ids"], batch["features"], batch["lengths"]).audio_logits     # (B, 7, T, Va)
    for j in range(7):
        after = torch.zeros_like(batch["mask"][:, j])
        after[:, 1:] = batch["mask"][:, j, :-1]                      # inputs fed from an audio target
        want = logits[:, j].argmax(-1) + TS.audio_offset(j)          # (B, T): guess of the target at t
        assert torch.equal(fed["ids"][:, j][after], want[:, :-1][batch["mask"][:, j, :-1]])
        assert torch.equal(fed["ids"][:, j][~after], batch["ids"][:, j][~after])
    assert torch.equal(fed["ids"][:, 7], batch["ids"][:, 7])
    assert fed["targets"] is batch["targets"] and fed["mask"] is batch["mask"]
    assert not torch.equal(fed["ids"], batch["ids"])
    half = feed_own_predictions(model, batch, 0.5, torch.Generator().manual_seed(1))
    changed = (half["ids"] != batch["ids"]).sum()
    assert 0 < changed < (fed["ids"] != batch["ids"]).sum()
