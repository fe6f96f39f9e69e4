"""Losses and metrics on signals with a known answer."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from audiogen.codec.discriminator import MultiScaleSTFTDiscriminator
from audiogen.codec.losses import (Balancer, MelDistance, MultiScaleMelLoss, feature_matching_loss,
                                   hinge_disc_loss, hinge_gen_loss, hz_to_mel, l1_wave, mel_filterbank,
                                   mel_to_hz, si_snr)

SR = 16000


def _tone(f, seconds=0.5, amp=0.5):
    t = torch.arange(int(SR * seconds)) / SR
    return (amp * torch.sin(2 * math.pi * f * t))[None, None]


def test_mel_scale_known_points():
    # Slaney: linear 200/3 Hz per mel below 1 kHz (1 kHz = 15 mel); HTK: 1 kHz ≈ 1000 mel.
    assert hz_to_mel(1000.0) == pytest.approx(15.0)
    assert hz_to_mel(200.0) == pytest.approx(3.0)
    assert hz_to_mel(1000.0, htk=True) == pytest.approx(999.99, abs=0.1)
    f = np.array([0.0, 300.0, 1000.0, 4321.0, 8000.0])
    assert np.allclose(mel_to_hz(hz_to_mel(f)), f)
    assert np.allclose(mel_to_hz(hz_to_mel(f, True), True), f)


def test_mel_filterbank_shape_peaks_and_area():
    fb = mel_filterbank(SR, 1024, 64)
    assert fb.shape == (64, 513) and (fb >= 0).all()
    peaks = fb.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all()  # filters go up in frequency
    df = SR / 1024
    # Slaney normalisation: each triangle has area ~1 (in Hz): sum(weights) * bin width ≈ 1
    area = fb.sum(axis=1) * df
    assert np.allclose(area[10:], 1.0, rtol=0.1)
    # A tone lights the filter whose centre is nearest.
    spec = np.zeros(513)
    spec[int(3000 / df)] = 1.0
    centre = mel_to_hz(np.linspace(hz_to_mel(0), hz_to_mel(SR / 2), 66))[1:-1]
    assert abs(centre[(fb @ spec).argmax()] - 3000) < 150


def test_l1_and_mel_loss_zero_for_identical_and_grow_with_difference():
    x = _tone(440) + 0.05 * torch.randn(1, 1, SR // 2)
    mel = MultiScaleMelLoss(SR)
    assert float(l1_wave(x, x)) == 0.0
    assert float(mel(x, x)) == pytest.approx(0.0, abs=1e-7)
    noise = torch.randn_like(x)
    small, large = float(mel(x, x + 0.01 * noise)), float(mel(x, x + 0.1 * noise))
    assert 0 < small < large
    assert float(l1_wave(x, x + 0.1)) == pytest.approx(0.1, rel=1e-4)
    # Without the L2 weights the loss still grows, and it reads different frequencies apart.
    plain = MultiScaleMelLoss(SR, alphas=False)
    assert float(plain(_tone(440), _tone(2000))) > float(plain(_tone(440), _tone(450)))


def test_mel_distance_metric():
    d = MelDistance(SR)
    x = _tone(440)
    assert float(d(x, x)) == 0.0
    assert float(d(x, _tone(3000))) > float(d(x, 0.9 * x)) > 0
    # A gain of g shifts log10 magnitudes by log10(g) where every band has signal (white noise).
    torch.manual_seed(0)
    n = 0.3 * torch.randn(1, 1, SR)
    assert float(d(n, 0.1 * n)) == pytest.approx(1.0, abs=0.02)


def test_hinge_losses_on_known_logits():
    real = [torch.tensor([2.0, 0.5]), torch.tensor([1.0])]
    fake = [torch.tensor([-2.0, 0.0]), torch.tensor([0.5])]
    # scale 1: relu(1-2)=0, relu(1-.5)=.5 → .25; relu(1-2)=0, relu(1+0)=1 → .5; total .75
    # scale 2: relu(0)=0; relu(1.5)=1.5 → 1.5; mean over scales = (0.75 + 1.5) / 2
    assert float(hinge_disc_loss(real, fake)) == pytest.approx(1.125)
    # generator: scale 1 mean(relu(3), relu(1)) = 2; scale 2 relu(.5) = .5 → 1.25
    assert float(hinge_gen_loss(fake)) == pytest.approx(1.25)
    assert float(hinge_gen_loss([torch.tensor([1.0, 3.0])])) == 0.0


def test_feature_matching_and_discriminator_shapes():
    torch.manual_seed(0)
    disc = MultiScaleSTFTDiscriminator(filters=4, n_ffts=(256, 128))
    x = 0.3 * torch.randn(2, 1, 4000)
    logits, feats = disc(x)
    assert len(logits) == 2 and all(lg.shape[:2] == (2, 1) for lg in logits)
    assert all(len(f) == 5 for f in feats)
    with torch.no_grad():
        assert float(feature_matching_loss(feats, feats)) == 0.0
        _, feats2 = disc(x + 0.3 * torch.randn_like(x))
        _, feats3 = disc(x + 0.01 * torch.randn_like(x))
        assert float(feature_matching_loss(feats, feats2)) > float(feature_matching_loss(feats, feats3)) > 0


def test_si_snr_known_values():
    torch.manual_seed(0)
    x = torch.randn(3, 1, 16000)
    assert (si_snr(3.7 * x, x) > 60).all()          # a scaled copy: scale-invariant, near-perfect
    noise = torch.randn(3, 1, 16000)
    noise = noise / noise.pow(2).mean(-1, keepdim=True).sqrt() * x.pow(2).mean(-1, keepdim=True).sqrt()
    for snr_db in (0.0, 10.0):
        est = x + noise * 10 ** (-snr_db / 20)
        assert si_snr(est, x).mean().item() == pytest.approx(snr_db, abs=0.5)
    # Independent noise as the estimate: far below 0 dB.
    assert si_snr(torch.randn(3, 1, 16000), x).mean() < -20


def test_balancer_gives_each_loss_its_weight_share():
    torch.manual_seed(0)
    out = torch.randn(4, 1, 100, requires_grad=True)
    # Two losses whose raw gradients differ by 1000×.
    losses = {"a": 1000 * out.pow(2).sum(), "b": out.sum()}
    bal = Balancer({"a": 1.0, "b": 3.0}, ema=0.0)
    grad = bal.output_grad(losses, out)
    ga = 2000 * out.detach()
    norm_a = ga.flatten(1).norm(dim=1).mean()
    norm_b = torch.ones_like(out).flatten(1).norm(dim=1).mean()
    assert bal.last["a"] * norm_a == pytest.approx(0.25, rel=1e-4)
    assert bal.last["b"] * norm_b == pytest.approx(0.75, rel=1e-4)
    assert torch.allclose(grad, bal.last["a"] * ga + bal.last["b"] * torch.ones_like(out), atol=1e-5)
    plain = Balancer({"a": 1.0, "b": 3.0}, balance=False)
    g = plain.output_grad({"a": 1000 * out.pow(2).sum(), "b": out.sum()}, out)
    assert torch.allclose(g, ga + 3.0, rtol=1e-5)
