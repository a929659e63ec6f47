"""Grader of exercise 03: ``mine`` against ``omni_lib.tokens`` for every task on both presets with
seeded random prompt lengths, plus one worked example with literal ids (the released model's)."""

import random

import pytest
import torch

from omni_lib.config import OmniConfig
from omni_lib.tokens import SPEECH_IN_TASKS, TASKS, TokenSpace, build_input

PRESETS = {name: OmniConfig.from_preset(name) for name in ("tiny", "mini-omni")}


def test_worked_example(mine):
    cfg = PRESETS["mini-omni"]
    assert mine.audio_id(4097, 0, cfg) == 156097                  # pad_a, layer 0
    assert mine.audio_id(4099, 6, cfg) == 181059                  # answer_a, layer 6
    got = mine.build_input("ASR", cfg, n_audio=2)
    assert got.shape == (8, 5) and got.dtype == torch.long
    assert got[0].tolist() == [156098, 156097, 156097, 156096, 156097]    # input_a pad_a pad_a eoa pad_a
    assert got[6].tolist() == [181058, 181057, 181057, 181056, 181057]    # the same values, layer 6
    assert got[7].tolist() == [151938, 151937, 151937, 151936, 151940]    # input_t pad_t pad_t eot asr


@pytest.mark.parametrize("preset", PRESETS)
def test_audio_id_equals_library(mine, preset):
    cfg, ts = PRESETS[preset], TokenSpace(PRESETS[preset])
    rng = random.Random(0)
    for _ in range(50):
        value, layer = rng.randrange(cfg.audio_vocab_size), rng.randrange(cfg.n_audio_layers)
        assert mine.audio_id(value, layer, cfg) == ts.audio_id(value, layer)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("preset", PRESETS)
def test_build_input_equals_library(mine, task, preset):
    cfg = PRESETS[preset]
    rng = random.Random(f"{task}-{preset}")
    for _ in range(3):
        if task in SPEECH_IN_TASKS:
            kw = dict(n_audio=rng.randint(1, 40))
        else:
            kw = dict(text_ids=[rng.randrange(cfg.text_special_start) for _ in range(rng.randint(1, 12))])
        got, want = mine.build_input(task, cfg, **kw), build_input(task, cfg, **kw)
        assert got.shape == want.shape, f"{task} {kw}: shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        assert torch.equal(got, want), f"{task} {kw}: rows {sorted(set((got != want).nonzero()[:, 0].tolist()))} differ"
