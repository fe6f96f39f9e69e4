"""Codebook patterns: round trips, valid masks, a handmade delay layout."""
from __future__ import annotations

import pytest
import torch

from audiogen.lm.patterns import get_pattern

SPECIAL = 99


@pytest.mark.parametrize("name", ["parallel", "delay"])
@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("t", [1, 7])
def test_build_revert_round_trip(name, k, t):
    p = get_pattern(name, k)
    codes = torch.randint(0, 50, (3, k, t))
    seq, valid = p.build(codes, SPECIAL)
    s = p.num_steps(t)
    assert s == (t if name == "parallel" else t + k - 1)
    assert seq.shape == (3, k, s) and valid.shape == (k, s) and valid.dtype == torch.bool
    assert int(valid.sum()) == k * t  # every token of every codebook appears exactly once
    assert valid.sum(dim=1).tolist() == [t] * k
    assert (seq[:, ~valid] == SPECIAL).all() and (seq[:, valid] != SPECIAL).all()
    assert torch.equal(p.revert(seq), codes)
    assert torch.equal(p.revert(seq, t), codes)
    # frame_of and its vectorised form agree, and valid means "frame inside [0, T)".
    frames = p.frame_index(s)
    for kk in range(k):
        for ss in range(s):
            f = p.frame_of(kk, ss)
            assert frames[kk, ss] == f
            assert bool(valid[kk, ss]) == (0 <= f < t)
            if valid[kk, ss]:
                assert torch.equal(seq[:, kk, ss], codes[:, kk, f])


def test_delay_handmade_example():
    p = get_pattern("delay", 3)
    codes = torch.tensor([[[1, 2], [3, 4], [5, 6]]])  # [1, K=3, T=2]
    seq, valid = p.build(codes, 0)
    assert seq.tolist() == [[[1, 2, 0, 0], [0, 3, 4, 0], [0, 0, 5, 6]]]
    assert valid.int().tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    assert p.frame_of(2, 2) == 0 and p.frame_of(1, 0) == -1


def test_parallel_puts_a_whole_frame_at_one_step():
    p = get_pattern("parallel", 2)
    codes = torch.tensor([[[1, 2, 3], [4, 5, 6]]])
    seq, valid = p.build(codes, 0)
    assert torch.equal(seq, codes) and bool(valid.all())


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown codebook pattern 'zigzag'"):
        get_pattern("zigzag", 2)
    p = get_pattern("delay", 2)
    with pytest.raises(ValueError, match=r"expected codes \[B, 2, T\]"):
        p.build(torch.zeros(1, 3, 4, dtype=torch.long), 0)
    with pytest.raises(ValueError, match="cannot hold"):
        p.revert(torch.zeros(1, 2, 4, dtype=torch.long), 5)
