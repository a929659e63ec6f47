"""Grader of exercise 04: ``mine`` against ``OmniModel.embed`` and its adapter (a seeded tiny
model) on random ids, features and per-row lengths, plus one worked example with literal values."""

import pytest
import torch

from omni_lib.config import OmniConfig
from omni_lib.model import OmniModel
from omni_lib.tokens import build_input

CFG = OmniConfig.from_preset("tiny", n_layer=1)


@pytest.fixture(scope="module")
def model():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return OmniModel(CFG).eval()


def table_of(model):
    return model.backbone.get_input_embeddings().weight.detach()


def adapter_weights(model):
    a = model.adapter
    return a.fc_1.weight.detach(), a.fc_2.weight.detach(), a.proj.weight.detach()


def random_ids(B: int, T: int, seed: int) -> torch.Tensor:
    return torch.randint(0, CFG.padded_vocab_size, (B, 8, T), generator=torch.Generator().manual_seed(seed))


def features(B: int, L: int, seed: int) -> torch.Tensor:
    return torch.randn(B, L, CFG.whisper_dim, generator=torch.Generator().manual_seed(seed))


def test_worked_example(mine):
    table = torch.stack([torch.arange(40.0), torch.ones(40)], dim=1)       # row v = [v, 1]
    ids = torch.tensor([[8, 8, 8]] * 7 + [[16, 24, 32]])[None]             # (1, 8, 3)
    speech = torch.tensor([[[100.0, -1.0]]])                               # (1, L=1, 2): position 1
    got = mine.embed(table, ids, speech)
    # column 0: (7*8 + 16)/8; column 1: (7*[100, -1] + [24, 1])/8; column 2: (7*8 + 32)/8
    assert got.tolist() == [[[9.0, 1.0], [90.5, -0.75], [11.0, 1.0]]]
    assert mine.embed(table, ids).tolist() == [[[9.0, 1.0], [10.0, 1.0], [11.0, 1.0]]]


@pytest.mark.parametrize("B,L,seed", [(1, 3, 0), (2, 7, 1)])
def test_adapter_equals_library(mine, model, B, L, seed):
    x = features(B, L, seed)
    with torch.no_grad():
        assert torch.allclose(mine.swiglu_adapter(x, *adapter_weights(model)), model.adapter(x), atol=1e-5)


@pytest.mark.parametrize("B,T,seed", [(1, 4, 2), (3, 9, 3)])
def test_text_only_equals_library(mine, model, B, T, seed):
    ids = random_ids(B, T, seed)
    with torch.no_grad():
        assert torch.allclose(mine.embed(table_of(model), ids), model.embed(ids), atol=1e-6)


@pytest.mark.parametrize("L,seed", [(1, 4), (6, 5)])
def test_speech_prompt_equals_library(mine, model, L, seed):
    ids = build_input("A1T2", CFG, n_audio=L)[None]                        # (1, 8, L + 3)
    feats = features(1, L, seed)
    with torch.no_grad():
        got = mine.embed(table_of(model), ids, model.adapter(feats))
        assert torch.allclose(got, model.embed(ids, feats), atol=1e-6)


@pytest.mark.parametrize("seed", [6, 7])
def test_per_row_lengths_equal_library(mine, model, seed):
    B, L, T = 4, 5, 11
    ids, feats = random_ids(B, T, seed), features(B, L, seed)
    lengths = torch.tensor([5, 0, 2, 3])                                  # row 1: text input, no splice
    with torch.no_grad():
        got = mine.embed(table_of(model), ids, model.adapter(feats), lengths)
        assert torch.allclose(got, model.embed(ids, feats, lengths), atol=1e-6)
