"""Generation: KV cache vs recomputation, guidance, seeds, prompts; the sampling rules."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from audiogen.lm import cfg_logits, generate_codes, sample

from ._helpers import CARD, random_codes, random_text, tiny_lm


def reference_generate(lm, text, mask, frames, cfg, prompt=None, **sampling):
    """Decoding written out plainly: delays by hand, the whole prefix recomputed every step,
    conditional and null rows in separate forward passes, every step sampled."""
    k_ = lm.config.num_codebooks
    delays = list(range(k_)) if lm.config.pattern == "delay" else [0] * k_
    b, steps = text.shape[0], frames + max(delays)
    tp = 0 if prompt is None else prompt.shape[-1]
    seq = torch.full((b, k_, steps), CARD)
    with torch.no_grad():
        for s in range(steps):
            inputs = torch.cat([torch.full((b, k_, 1), CARD), seq[..., :s]], dim=-1)
            logits = lm(inputs, text, mask)[:, :, -1]
            if cfg != 1.0:
                uncond = lm(inputs, torch.zeros_like(text), torch.zeros_like(mask))[:, :, -1]
                logits = cfg * F.log_softmax(logits, -1) + (1 - cfg) * F.log_softmax(uncond, -1)
            tokens = sample(logits, **sampling)
            for kk, d in enumerate(delays):
                f = s - d
                if 0 <= f < frames:
                    seq[:, kk, s] = prompt[:, kk, f] if f < tp else tokens[:, kk]
    return torch.stack([seq[:, kk, d:d + frames] for kk, d in enumerate(delays)], dim=1)


GREEDY = {"temperature": 0.0}


@pytest.mark.parametrize("pattern", ["delay", "parallel"])
@pytest.mark.parametrize("cfg", [1.0, 3.0])
@pytest.mark.parametrize("with_prompt", [False, True])
def test_cache_gives_the_tokens_of_recomputation(pattern, cfg, with_prompt):
    lm = tiny_lm(pattern, 3)
    text, mask = random_text([3, 0, 5])  # an empty caption too
    prompt = random_codes(3, 3, 4) if with_prompt else None
    cached = generate_codes(lm, text, mask, 9, cfg=cfg, prompt_codes=prompt, **GREEDY)
    recomputed = generate_codes(lm, text, mask, 9, cfg=cfg, prompt_codes=prompt, use_cache=False, **GREEDY)
    assert cached.shape == (3, 3, 9) and cached.dtype == torch.long
    assert torch.equal(cached, recomputed)
    assert torch.equal(cached, reference_generate(lm, text, mask, 9, cfg, prompt, **GREEDY))
    assert int(cached.min()) >= 0 and int(cached.max()) < CARD  # never the special token
    if with_prompt:
        assert torch.equal(cached[..., :4], prompt)


@pytest.mark.parametrize("pattern", ["delay", "parallel"])
def test_sampling_with_cache_matches_recomputation(pattern):
    lm = tiny_lm(pattern, 2)
    text, mask = random_text([2, 4])
    runs = [generate_codes(lm, text, mask, 10, cfg=3.0, top_k=5, use_cache=c,
                           generator=torch.Generator().manual_seed(11)) for c in (True, False)]
    assert torch.equal(runs[0], runs[1])


@pytest.mark.parametrize("cfg", [1.0, 2.5])
def test_matches_plain_sampling_for_the_same_seed(cfg):
    """cfg = 1: plain conditional sampling; otherwise γ·log p(cond) + (1 − γ)·log p(null)."""
    lm = tiny_lm("delay", 3)
    text, mask = random_text([4, 1])
    ours = generate_codes(lm, text, mask, 8, cfg=cfg, top_k=6, generator=torch.Generator().manual_seed(5))
    ref = reference_generate(lm, text, mask, 8, cfg, top_k=6, generator=torch.Generator().manual_seed(5))
    assert torch.equal(ours, ref)


def test_seeds_and_determinism():
    lm = tiny_lm("delay", 2)
    text, mask = random_text([3, 3])

    def run(seed):
        return generate_codes(lm, text, mask, 12, top_k=0, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_continuation_and_model_state():
    lm = tiny_lm("delay", 2).train()
    text, mask = random_text([2])
    prompt = random_codes(1, 2, 5)
    out = generate_codes(lm, text, mask, 8, prompt_codes=prompt, generator=torch.Generator().manual_seed(0),
                         progress=True)
    assert out.shape == (1, 2, 8) and torch.equal(out[..., :5], prompt)
    assert lm.training  # put back as it was
    whole = generate_codes(lm, text, mask, 5, prompt_codes=prompt)
    assert torch.equal(whole, prompt)  # nothing left to sample
    with pytest.raises(ValueError, match="more than the 4 to generate"):
        generate_codes(lm, text, mask, 4, prompt_codes=prompt)
    with pytest.raises(ValueError, match=r"prompt_codes must be \[B=1, K=2, Tp\]"):
        generate_codes(lm, text, mask, 8, prompt_codes=prompt[:, :1])


def test_sample_rules():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, 10, generator=g)
    assert torch.equal(sample(logits, temperature=0.0), logits.argmax(-1))
    assert torch.equal(sample(logits, top_k=1, generator=g), logits.argmax(-1))
    many = logits[:1, :1].expand(2000, 1, 10)
    top2 = set(logits[0, 0].topk(2).indices.tolist())
    assert set(sample(many, top_k=2, generator=g).unique().tolist()) <= top2
    assert len(set(sample(many, top_k=0, generator=g).unique().tolist())) > 2
    probs = logits[0, 0].softmax(-1)
    order = probs.argsort(descending=True)
    need = int((probs[order].cumsum(0) < 0.7).sum()) + 1  # smallest head reaching 0.7
    drawn = set(sample(many, top_p=0.7, generator=g).unique().tolist())
    assert drawn <= set(order[:need].tolist()) and len(drawn) == need
    a = sample(logits, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, sample(logits, generator=torch.Generator().manual_seed(9)))
    with pytest.raises(ValueError, match="temperature"):
        sample(logits, temperature=-1.0)


def test_cfg_logits_formula():
    g = torch.Generator().manual_seed(1)
    cond, uncond = torch.randn(2, 3, 7, generator=g), torch.randn(2, 3, 7, generator=g)
    assert torch.allclose(cfg_logits(cond, uncond, 1.0), F.log_softmax(cond, -1))
    want = 3 * F.log_softmax(cond, -1) - 2 * F.log_softmax(uncond, -1)
    assert torch.allclose(cfg_logits(cond, uncond, 3.0), want, atol=1e-6)
