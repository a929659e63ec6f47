"""Grader of exercise 05: ``mine`` against ``omni_lib.batches`` (``answer_grid``, ``make_example``)
for all six training tasks with seeded random answers and frames, plus worked examples with
literal values (tiny preset: eot 960, pad_t 961, eoa 4096, pad_a 4097)."""

import random

import pytest
import torch

from omni_lib.batches import IGNORE, TRAIN_TASKS, Example, answer_grid, make_example
from omni_lib.config import OmniConfig
from omni_lib.tokens import SPEECH_IN_TASKS, build_input

CFG = OmniConfig.from_preset("tiny")
SPEECH_ANSWER = ("A1A2", "T1A2", "TTS")


def random_example(task: str, seed: int) -> Example:
    rng = random.Random(f"{task}-{seed}")
    g = torch.Generator().manual_seed(seed)
    words = lambda k: [rng.randrange(CFG.text_special_start) for _ in range(k)]          # noqa: E731
    # answers longer and shorter than the audio, and (seed 0) an empty text answer
    answer = words(0 if seed == 0 else rng.randint(1, 14))
    frames = torch.randint(0, 4096, (7, rng.randint(1, 12)), generator=g) if task in SPEECH_ANSWER else None
    features = torch.zeros(rng.randint(1, 8), CFG.whisper_dim) if task in SPEECH_IN_TASKS else None
    return Example(task, question=words(rng.randint(1, 6)), answer=answer if task != "TTS" else answer or [5],
                   frames=frames, features=features)


def prompt_of(ex: Example) -> torch.Tensor:
    if ex.task in SPEECH_IN_TASKS:
        return build_input(ex.task, CFG, n_audio=len(ex.features))
    return build_input("T1A2" if ex.task == "TTS" else ex.task, CFG,
                       text_ids=ex.answer if ex.task == "TTS" else ex.question)


def test_worked_example(mine):
    grid = mine.answer_grid("TTS", [5], torch.full((7, 1), 3), CFG)     # one word, one frame of code 3
    assert grid.shape == (8, 9)                                          # max(1 + 1, 1 + 1) + 7 steps
    assert grid[0].tolist() == [4097, 3, 4096, 4097, 4097, 4097, 4097, 4097, 4097]    # layer 0 from step 1
    assert grid[6].tolist() == [4097, 4097, 4097, 4097, 4097, 4097, 4097, 3, 4096]    # layer 6 from step 7
    assert grid[7].tolist() == [5, 960, 961, 961, 961, 961, 961, 961, 961]            # text: no delay
    assert mine.answer_grid("T1T2", [7, 8], None, CFG)[:, -1].tolist() == [4097] * 7 + [960]


def test_worked_example_masks(mine):
    prompt = build_input("T1T2", CFG, text_ids=[5, 6])                  # P = 5
    ids, targets, mask = mine.teacher_forcing("T1T2", prompt, mine.answer_grid("T1T2", [7], None, CFG), CFG)
    assert ids.shape == targets.shape == mask.shape == (8, 6)           # P + S - 1 = 5 + 2 - 1
    assert ids[7].tolist() == [962, 5, 6, 960, 963, 7]                  # input_t 5 6 eot answer_t, then step 0 fed
    assert targets[7].tolist() == [IGNORE] * 4 + [7, 960]               # steps 0, 1 predicted at P - 1, P
    assert mask[7].tolist() == [False] * 4 + [True, True] and not mask[:7].any()


@pytest.mark.parametrize("task", TRAIN_TASKS)
def test_answer_grid_equals_library(mine, task):
    for seed in range(3):
        ex = random_example(task, seed)
        got, want = mine.answer_grid(task, ex.answer, ex.frames, CFG), answer_grid(ex, CFG)
        assert got.shape == want.shape and torch.equal(got, want), f"seed {seed}"


@pytest.mark.parametrize("task", TRAIN_TASKS)
def test_teacher_forcing_equals_library(mine, task):
    for seed in range(3):
        ex = random_example(task, seed)
        got = mine.teacher_forcing(task, prompt_of(ex), answer_grid(ex, CFG), CFG)
        for name, g, w in zip(("ids", "targets", "mask"), got, make_example(ex, CFG)):
            assert g.shape == w.shape and g.dtype == w.dtype, (
                f"{name}: {g.dtype} {tuple(g.shape)}, expected {w.dtype} {tuple(w.shape)}")
            rows = sorted(set((g != w).nonzero()[:, 0].tolist()))
            assert torch.equal(g, w), f"seed {seed}: {name} differs in rows {rows}"
