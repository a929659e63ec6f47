"""Grader of exercise 02: ``mine`` against ``omni_lib.delay`` on seeded random grids of several
widths (0 frames included), plus one worked example with literal values."""

import pytest
import torch

from omni_lib.config import OmniConfig
from omni_lib.delay import delay, pad_ids, undelay

CFG = OmniConfig.from_preset("mini-omni")


def random_rows(F: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 4096, (8, F), generator=torch.Generator().manual_seed(seed))


def test_worked_example(mine):
    rows = torch.arange(8 * 3).reshape(8, 3)           # row r holds 3r, 3r + 1, 3r + 2
    got = mine.delay(rows, pad=-1)
    assert got.shape == (8, 10)
    assert got[0].tolist() == [-1, 0, 1, 2, -1, -1, -1, -1, -1, -1]        # layer 0 starts at step 1
    assert got[3].tolist() == [-1, -1, -1, -1, 9, 10, 11, -1, -1, -1]      # layer 3 at step 4
    assert got[6].tolist() == [-1, -1, -1, -1, -1, -1, -1, 18, 19, 20]     # layer 6 at step 7
    assert got[7].tolist() == [21, 22, 23, -1, -1, -1, -1, -1, -1, -1]     # text: no delay


@pytest.mark.parametrize("F,seed", [(1, 0), (4, 1), (20, 2)])
def test_delay_equals_library(mine, F, seed):
    rows, pads = random_rows(F, seed), pad_ids(CFG)
    assert torch.equal(mine.delay(rows, pad=pads), delay(rows, CFG, pad=pads))
    assert torch.equal(mine.delay(rows, pad=pads.tolist()), delay(rows, CFG))        # a list of 8 ids


def test_one_int_pads_every_row(mine):
    rows = random_rows(5, 3)
    assert torch.equal(mine.delay(rows, pad=-7), delay(rows, CFG, pad=-7))


def test_zero_frames_is_all_pad(mine):
    rows = torch.zeros(8, 0, dtype=torch.long)
    assert torch.equal(mine.delay(rows, pad=pad_ids(CFG)), delay(rows, CFG))


@pytest.mark.parametrize("F,seed", [(1, 4), (13, 5)])
def test_undelay_equals_library(mine, F, seed):
    grid = random_rows(F + 7, seed)                     # any grid: undelay reads, never checks the pads
    assert torch.equal(mine.undelay(grid), undelay(grid, CFG))


def test_round_trip(mine):
    rows = random_rows(9, 6)
    assert torch.equal(mine.undelay(mine.delay(rows, pad=0)), rows)
