"""Residual VQ: k-means init uses the codebook, EMA updates, dead-code replacement, residual coding."""
from __future__ import annotations

import torch

from audiogen.codec.config import preset
from audiogen.codec.quantizer import EMACodebook, ResidualVQ, kmeans


def _book(size=64, dim=8, threshold=2.0, decay=0.99):
    return EMACodebook(size, dim, decay=decay, kmeans_iters=10, threshold=threshold, eps=1e-5)


def test_kmeans_init_uses_most_codes_on_noise():
    torch.manual_seed(0)
    book = _book()
    noise = torch.randn(4096, 8)
    book.train()
    _, codes = book(noise)
    assert bool(book.inited.item())
    used = torch.bincount(codes, minlength=64)
    assert (used > 0).sum() >= 60  # no collapse
    probs = used.float() / used.sum()
    perplexity = torch.exp(-(probs[probs > 0] * probs[probs > 0].log()).sum())
    assert perplexity > 40
    # Fresh noise in eval mode also spreads over the codebook.
    book.eval()
    assert torch.unique(book.codes(torch.randn(4096, 8))).numel() >= 55


def test_kmeans_finds_clusters():
    torch.manual_seed(0)
    centres = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0]])
    x = torch.cat([c + 0.1 * torch.randn(200, 2) for c in centres])
    found, counts = kmeans(x, 3, 20)
    dist = torch.cdist(centres, found).min(dim=1).values
    assert (dist < 0.2).all() and counts.sum() == 600


def test_ema_moves_codes_towards_their_data():
    torch.manual_seed(0)
    book = _book(size=16, dim=4, decay=0.5)
    book.train()
    book(torch.randn(1024, 4))
    before = book.embed.clone()
    shifted = torch.randn(1024, 4) + 3.0  # every vector moves far away
    for _ in range(10):
        book(shifted)
    assert (book.embed.mean(0) - before.mean(0)).norm() > 2.0


def test_dead_codes_are_replaced_by_encoder_outputs():
    torch.manual_seed(0)
    book = _book(size=32, dim=4, decay=0.5, threshold=1.0)
    book.train()
    book(torch.randn(2048, 4))
    far = torch.randn(256, 4) * 0.01 + torch.tensor([10.0, 10.0, 10.0, 10.0])
    for _ in range(15):  # usage EMAs of the abandoned codes halve each step until below 1
        book(far)
    # Codes starved of data were re-seeded from the batch: most now sit next to the new data.
    near = (torch.cdist(book.embed, far).min(dim=1).values < 1.0).sum()
    assert near >= 24
    assert (book.cluster_size >= 1.0 - 1e-6).all()


def test_eval_mode_does_not_update():
    torch.manual_seed(0)
    book = _book()
    book.train()
    book(torch.randn(512, 8))
    book.eval()
    before = book.embed.clone()
    book(torch.randn(512, 8) + 5)
    assert torch.equal(before, book.embed)


def test_residual_quantiser_codes_decode_to_its_output_and_more_codebooks_help():
    torch.manual_seed(0)
    z = torch.randn(4, 32, 50)
    errors = []
    for k in (1, 2, 4):
        rvq = ResidualVQ(preset("tiny", num_codebooks=k, codebook_size=64, dimension=32))
        rvq.train()
        q, codes, commit = rvq(z)
        assert codes.shape == (4, k, 50) and q.shape == z.shape and commit.item() >= 0
        rvq.eval()
        codes = rvq.encode(z)
        q_eval, codes_fwd, _ = rvq(z)
        assert torch.equal(codes, codes_fwd)
        assert torch.allclose(rvq.decode(codes), q_eval, atol=1e-5)
        errors.append(float((rvq.decode(codes) - z).pow(2).mean()))
    assert errors[0] > errors[1] > errors[2]


def test_straight_through_gradient_reaches_the_input():
    rvq = ResidualVQ(preset("tiny"))
    z = torch.randn(2, 32, 10, requires_grad=True)
    q, _, commit = rvq(z)
    (q.sum() + commit).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
