"""Grader of exercise 01: ``mine`` (the module under test) against ``omni_lib.codec`` on seeded
random codes of several lengths, plus one worked example with literal values."""

import pytest
import torch

from omni_lib.codec import codes_to_frames, frames_to_codes


def random_codes(F: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 4096, (1, k * F), generator=g) for k in (1, 2, 4)]


def test_worked_example(mine):
    codes = [torch.tensor([[7, 8]]), torch.tensor([[10, 11, 12, 13]]), torch.tensor([[20, 21, 22, 23, 24, 25, 26, 27]])]
    assert mine.codes_to_frames(codes).tolist() == [[7, 8], [10, 12], [20, 24], [21, 25], [11, 13], [22, 26], [23, 27]]


@pytest.mark.parametrize("F,seed", [(1, 0), (5, 1), (33, 2)])
def test_codes_to_frames_equals_library(mine, F, seed):
    codes = random_codes(F, seed)
    got = mine.codes_to_frames(codes)
    assert got.shape == (7, F) and got.dtype == torch.long
    assert torch.equal(got, codes_to_frames(codes))


def test_accepts_one_dimensional_codes(mine):
    codes = random_codes(6, 3)
    assert torch.equal(mine.codes_to_frames([c[0] for c in codes]), codes_to_frames(codes))


@pytest.mark.parametrize("F,seed", [(1, 4), (9, 5)])
def test_frames_to_codes_equals_library(mine, F, seed):
    frames = torch.randint(0, 4096, (7, F), generator=torch.Generator().manual_seed(seed))
    got, want = mine.frames_to_codes(frames), frames_to_codes(frames)
    assert len(got) == 3
    for g, w in zip(got, want):
        assert g.shape == w.shape and torch.equal(g, w)


def test_round_trip(mine):
    codes = random_codes(12, 6)
    back = mine.frames_to_codes(mine.codes_to_frames(codes))
    assert all(torch.equal(a, b) for a, b in zip(back, codes))


def test_refuses_lengths_not_1_2_4(mine):
    coarse, middle, fine = random_codes(4, 7)
    with pytest.raises(ValueError):
        mine.codes_to_frames([coarse, middle, fine[:, :-1]])
