"""Residual vector quantiser with EMA codebooks (EnCodec / SoundStream).

Each codebook is updated by exponential moving averages of the vectors assigned to it (no
gradient), initialised by k-means on the first training batch, and a code whose EMA usage drops
below `dead_code_threshold` is replaced by a random encoder output of the current batch. Encoder
gets a commitment loss and straight-through gradients.

Under torch.distributed the EMA statistics are all-reduced, and the random choices (k-means init,
dead-code replacement) are made on rank 0 and broadcast, so every rank holds the same codebooks.
In eval mode nothing is updated and each frame is quantised on its own (no cross-sample op).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from audiogen.codec.config import CodecConfig


def _dist() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _broadcast(*tensors: torch.Tensor) -> None:
    if _dist():
        for t in tensors:
            torch.distributed.broadcast(t, src=0)


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    if _dist():
        torch.distributed.all_reduce(t)
    return t


def _sample_rows(x: torch.Tensor, n: int) -> torch.Tensor:
    """`n` random rows of `x [M, D]` (with replacement only when M < n)."""
    if x.shape[0] >= n:
        idx = torch.randperm(x.shape[0], device=x.device)[:n]
    else:
        idx = torch.randint(0, x.shape[0], (n,), device=x.device)
    return x[idx]


def kmeans(x: torch.Tensor, k: int, iters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on `x [M, D]` → (centroids `[k, D]`, counts `[k]`). Empty clusters keep
    their previous centroid."""
    centroids = _sample_rows(x, k)
    counts = torch.zeros(k, device=x.device)
    for _ in range(iters):
        codes = torch.cdist(x, centroids).argmin(dim=1)
        counts = torch.bincount(codes, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, codes, x)
        nonempty = counts > 0
        centroids = torch.where(nonempty[:, None], sums / counts.clamp(min=1)[:, None], centroids)
    return centroids, counts


class EMACodebook(nn.Module):
    """One codebook of `size` vectors of `dim`. `forward(x [M, D]) → (quantized [M, D], codes [M])`."""

    def __init__(self, size: int, dim: int, decay: float, kmeans_iters: int, threshold: float, eps: float,
                 distance: str = "reduced"):
        super().__init__()
        self.size, self.decay, self.kmeans_iters, self.threshold, self.eps = size, decay, kmeans_iters, threshold, eps
        self.distance = distance
        self.register_buffer("inited", torch.zeros(1))
        self.register_buffer("cluster_size", torch.zeros(size))
        self.register_buffer("embed", torch.randn(size, dim) * 0.01)
        self.register_buffer("embed_avg", self.embed.clone())

    @torch.no_grad()
    def _init(self, x: torch.Tensor) -> None:
        embed, counts = kmeans(x, self.size, self.kmeans_iters)
        self.embed.copy_(embed)
        self.embed_avg.copy_(embed * counts[:, None])
        self.cluster_size.copy_(counts)
        self.inited.fill_(1)
        _broadcast(self.embed, self.embed_avg, self.cluster_size)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest code per row of `x [M, D]` → `[M]` int64."""
        if self.distance == "full":
            # audiocraft's expression, term for term (core_vq.py EuclideanCodebook.quantize): the
            # same value in exact arithmetic, but in fp32 a near-tie can round the other way.
            embed = self.embed.t()
            dist = -(x.pow(2).sum(1, keepdim=True) - 2 * x @ embed + embed.pow(2).sum(0, keepdim=True))
            return dist.max(dim=-1).indices
        # ||x - e||² = ||x||² - 2 x·e + ||e||²; ||x||² does not change the argmin.
        dist = self.embed.pow(2).sum(1)[None, :] - 2 * x @ self.embed.t()
        return dist.argmin(dim=1)

    @torch.no_grad()
    def _update(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        counts = _all_reduce(torch.bincount(codes, minlength=self.size).to(x.dtype))
        sums = _all_reduce(torch.zeros_like(self.embed).index_add_(0, codes, x))
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.size * self.eps) * n  # Laplace smoothing
        self.embed.copy_(self.embed_avg / smoothed[:, None])
        # Dead codes: identical on every rank (the stats are reduced); rank 0 picks the replacements.
        dead = self.cluster_size < self.threshold
        if dead.any():
            new = _sample_rows(x, self.size)
            _broadcast(new)
            self.embed.copy_(torch.where(dead[:, None], new, self.embed))
            self.embed_avg.copy_(torch.where(dead[:, None], new * self.threshold, self.embed_avg))
            self.cluster_size.copy_(torch.where(dead, torch.full_like(self.cluster_size, self.threshold),
                                                self.cluster_size))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.inited.item()):
            self._init(x.detach())
        codes = self.codes(x.detach())
        quantized = F.embedding(codes, self.embed)
        if self.training:
            self._update(x.detach(), codes)
        return quantized, codes


class ResidualVQ(nn.Module):
    """`num_codebooks` EMA codebooks; each quantises what the previous ones left over.

    forward(z [B, D, T]) → (quantized [B, D, T] with straight-through gradient, codes [B, K, T],
    commitment loss: mean over codebooks of MSE(residual, its quantisation)).
    """

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            EMACodebook(cfg.codebook_size, cfg.dimension, cfg.ema_decay, cfg.kmeans_iters,
                        cfg.dead_code_threshold, cfg.epsilon, cfg.vq_distance)
            for _ in range(cfg.num_codebooks))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, d, t = z.shape
        x = z.transpose(1, 2).reshape(b * t, d)
        residual, out = x, torch.zeros_like(x)
        codes, losses = [], []
        for layer in self.layers:
            q, c = layer(residual)
            losses.append(F.mse_loss(residual, q.detach()))
            residual = residual - q.detach()
            out = out + q.detach()
            codes.append(c)
        out = x + (out - x).detach()  # straight-through to the encoder
        quantized = out.reshape(b, t, d).transpose(1, 2)
        return quantized, torch.stack(codes, 0).reshape(-1, b, t).transpose(0, 1), torch.stack(losses).mean()

    @torch.no_grad()
    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents `[B, D, T]` → codes `[B, K, T]` int64 (no codebook update)."""
        b, d, t = z.shape
        residual = z.transpose(1, 2).reshape(b * t, d)
        codes = []
        for layer in self.layers:
            c = layer.codes(residual)
            residual = residual - F.embedding(c, layer.embed)
            codes.append(c.reshape(b, t))
        return torch.stack(codes, 1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes `[B, K, T]` → latents `[B, D, T]` (sum of the selected code vectors)."""
        if codes.shape[1] > len(self.layers):
            raise ValueError(f"codes have {codes.shape[1]} codebooks, the quantiser {len(self.layers)}")
        out = 0
        for k in range(codes.shape[1]):
            out = out + F.embedding(codes[:, k], self.layers[k].embed)  # [B, T, D]
        return out.transpose(1, 2)
