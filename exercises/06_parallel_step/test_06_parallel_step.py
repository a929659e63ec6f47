"""Grader of exercise 06: ``mine.parallel_step`` driven with a seeded tiny random model (some
variants rigged so that text ends and audio stops early) against ``omni_lib.decode.generate(...,
batch_parallel=True)``, plus worked examples on hand-made logits with literal values."""

import pytest
import torch

from omni_lib.config import OmniConfig
from omni_lib.decode import generate
from omni_lib.model import OmniModel
from omni_lib.tokens import TokenSpace, build_batch_parallel

CFG = OmniConfig.from_preset("tiny", n_layer=1, tie_word_embeddings=False)   # untied: the head can be rigged
TS = TokenSpace(CFG)
STEPS = 16                                                    # layer 6 starts at step 7
FEATS = torch.randn(4, CFG.whisper_dim, generator=torch.Generator().manual_seed(1))   # a 4-frame question


def logits(text_rows, audio_rows):
    """Hand-made logits: row b's text argmax ``text_rows[b]``, audio layer j's argmax ``audio_rows[b][j]``."""
    t = torch.zeros(2, CFG.text_vocab_size)
    a = torch.zeros(2, 7, CFG.audio_vocab_size)
    for b in range(2):
        t[b, text_rows[b]] = 1.0
        a[b, torch.arange(7), torch.tensor(audio_rows[b])] = 1.0
    return t, a


def test_worked_example(mine):
    state = mine.StepState(step=3)
    t, a = logits([5, 9], [[10, 11, 12, 13, 14, 15, 16], [0] * 7])
    text, audio, feed, stop = mine.parallel_step(t, a, state, CFG)
    assert (text, audio.tolist(), stop) == (9, [10, 11, 12, 13, 14, 15, 16], None)   # text from row 1, audio from row 0
    assert feed.tolist() == [[1034, 5195, 9356, 13517, 17678, 21839, 26000, 9],     # 1024 + 4160 j + value
                             [5121, 9281, 13441, 17601, 21761, 25921, 30081, 9]]    # pad_a in every layer
    assert state.step == 4 and not state.text_ended


def test_eot_is_kept_then_text_is_forced_to_pad(mine):
    state = mine.StepState(step=2)
    t, a = logits([0, TS.eot], [[1] * 7, [0] * 7])
    text, _, feed, stop = mine.parallel_step(t, a, state, CFG)
    assert text == TS.eot and stop is None and state.text_ended and feed[:, 7].tolist() == [TS.eot] * 2
    t, a = logits([0, 42], [[1] * 7, [0] * 7])
    text, _, feed, _ = mine.parallel_step(t, a, state, CFG)
    assert text == TS.pad_t and feed[:, 7].tolist() == [TS.pad_t] * 2


def test_eoa_in_layer_6_stops_but_not_at_step_0(mine):
    t, a = logits([0, 42], [[1] * 6 + [TS.eoa], [0] * 7])
    assert mine.parallel_step(t, a, mine.StepState(step=5), CFG)[3] == "eoa"
    assert mine.parallel_step(t, a, mine.StepState(step=0), CFG)[3] is None           # step 0 is unchecked
    t, a = logits([0, TS.eot], [[1] * 7, [0] * 7])
    state = mine.StepState(step=0)
    assert mine.parallel_step(t, a, state, CFG)[0] == TS.eot and not state.text_ended


@pytest.fixture(scope="module")
def cases():
    """``{variant: (model, the library's Generation)}`` for a seeded tiny model and two copies of it
    rigged so that, within STEPS steps, the text ends (``text_ends``) or the audio stops (``audio_stops``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        plain = OmniModel(CFG).eval()
    out = {"plain": (plain, reference(plain))}
    said = out["plain"][1].tokens[7].tolist()
    step = first_new(said, 2)                                           # that text token becomes eot
    text_ends = swap_head_rows(plain, said[step], TS.eot)
    out["text_ends"] = (text_ends, reference(text_ends))
    said = out["text_ends"][1].tokens[6].tolist()
    step = first_new(said, 8)                                           # after layer 6 has started (step 7)
    layer6 = CFG.audio_start + 6 * CFG.audio_vocab_size
    audio_stops = swap_head_rows(text_ends, layer6 + said[step], layer6 + TS.eoa)
    out["audio_stops"] = (audio_stops, reference(audio_stops))
    # the grader's own check: the rigged copies do reach the rules they are there to test
    ends = out["text_ends"][1]
    assert ends.stop == "max_steps" and TS.eot in ends.tokens[7, 2:].tolist() and ends.tokens[7, -1] == TS.pad_t
    assert out["audio_stops"][1].stop == "eoa" and out["audio_stops"][1].steps == step
    return out


def reference(model: OmniModel):
    return generate(model, "A1A2", audio_features=FEATS, batch_parallel=True, max_new_steps=STEPS)


def first_new(tokens: list[int], start: int) -> int:
    """The first step from ``start`` on whose token was not said before."""
    return next(s for s in range(start, len(tokens)) if tokens[s] not in tokens[:s])


def swap_head_rows(model: OmniModel, i: int, j: int) -> OmniModel:
    """A copy whose output head has rows i and j swapped: it says j wherever it said i (inputs unchanged)."""
    rigged = OmniModel(CFG).eval()
    rigged.load_state_dict(model.state_dict())
    with torch.no_grad():
        rigged.lm_head.weight[[i, j]] = rigged.lm_head.weight[[j, i]]
    return rigged


def run_mine(mine, model: OmniModel) -> tuple[torch.Tensor, str]:
    """The decoding loop around the student's step: kept steps as ``[8, S]`` (audio values, text)."""
    prompt = build_batch_parallel(CFG, n_audio=len(FEATS))              # (2, 8, T)
    with torch.no_grad():
        out = model(prompt, FEATS[None].expand(2, -1, -1), use_cache=True)
        state, kept = mine.StepState(), []
        for _ in range(STEPS):
            text, audio, feed, stop = mine.parallel_step(out.text_logits[:, -1], out.audio_logits[:, :, -1], state, CFG)
            if stop:
                return torch.stack(kept, dim=1), stop
            kept.append(torch.cat([torch.as_tensor(audio).reshape(7), torch.tensor([text])]))
            out = model(torch.as_tensor(feed)[:, :, None], past_key_values=out.past_key_values, use_cache=True)
    return torch.stack(kept, dim=1), "max_steps"


@pytest.mark.parametrize("variant", ["plain", "text_ends", "audio_stops"])
def test_decoding_equals_library(mine, request, variant):
    mine.parallel_step(*logits([0, 0], [[0] * 7] * 2), mine.StepState(), CFG)   # a stub fails here, before any model
    model, want = request.getfixturevalue("cases")[variant]
    tokens, stop = run_mine(mine, model)
    assert stop == want.stop
    assert tokens.shape == want.tokens.shape, f"{tokens.shape[1]} steps kept, expected {want.tokens.shape[1]}"
    assert torch.equal(tokens[7], want.tokens[7]), "text tokens differ"
    assert torch.equal(tokens[:7], want.tokens[:7]), "audio values differ"
