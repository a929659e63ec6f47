"""The delay pattern: vectorised vs a naive loop, vs the spec's grid, and its inverse (spec §6)."""

import pytest
import torch

from omni_lib.config import OmniConfig
from omni_lib.delay import delay, pad_ids, row_delays, undelay

CFG = OmniConfig.from_preset("mini-omni")


def naive_delay(rows, pads):
    """Straight from the spec: text token k at step k; frame f of audio layer j at step f + j + 1."""
    F = rows.shape[1]
    out = [[int(pads[r])] * (F + 7) for r in range(8)]
    for f in range(F):
        out[7][f] = int(rows[7, f])
        for j in range(7):
            out[j][f + j + 1] = int(rows[j, f])
    return torch.tensor(out)


@pytest.mark.parametrize("F", [0, 1, 2, 7, 13])
def test_delay_matches_naive_loop(F):
    g = torch.Generator().manual_seed(F)
    rows = torch.randint(0, 10_000, (8, F), generator=g)
    got = delay(rows, CFG)
    assert got.shape == (8, F + 7)
    assert torch.equal(got, naive_delay(rows, pad_ids(CFG)))
    assert torch.equal(undelay(got, CFG), rows)


def test_spec_grid():
    """The grid of spec §6 for 9 steps: t_k at step k, layer0 f0 at step 1, layer6 f0 at step 7."""
    F = 2
    rows = torch.tensor([[100 * j + f for f in range(F)] for j in range(7)] + [[900, 901]])
    d = delay(rows, CFG, pad=-1)
    assert d[7].tolist() == [900, 901] + [-1] * 7            # text: no delay
    assert d[0].tolist() == [-1, 0, 1] + [-1] * 6            # layer 0 starts at step 1
    assert d[1].tolist() == [-1, -1, 100, 101] + [-1] * 5    # layer 1 at step 2
    assert d[6].tolist() == [-1] * 7 + [600, 601]            # layer 6 at step 7
    assert row_delays(CFG).tolist() == [1, 2, 3, 4, 5, 6, 7, 0]


def test_default_pads_are_each_rows_pad_id():
    d = delay(torch.zeros(8, 1, dtype=torch.long), CFG)
    assert d[7, 1].item() == 151937                           # pad_t
    assert [d[j, 0].item() for j in range(7)] == [4097 + 152000 + 4160 * j for j in range(7)]


def test_batched_and_per_row_pad():
    rows = torch.randint(0, 50, (3, 8, 4))
    d = delay(rows, CFG)
    assert d.shape == (3, 8, 11)
    for b in range(3):
        assert torch.equal(d[b], delay(rows[b], CFG))
    assert torch.equal(undelay(d, CFG), rows)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\[\.\.\., 8, F\]"):
        delay(torch.zeros(7, 3, dtype=torch.long), CFG)
    with pytest.raises(ValueError, match=r"F \+ 7"):
        undelay(torch.zeros(8, 5, dtype=torch.long), CFG)
