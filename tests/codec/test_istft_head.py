"""The Fourier decoder (`CodecConfig.decoder = "istft"`, audiogen/codec/istft_head.py): the inverse
STFT inverts an STFT framed the same way, shapes match the SEANet decoder's, the output stays inside
[−1, 1] whatever the latents and carries no DC offset, checkpoints round-trip, and configs without the
option load as SEANet."""
from __future__ import annotations

import json

import pytest
import torch

from audiogen.codec.config import CodecConfig, preset
from audiogen.codec.istft_head import InverseSTFT, ISTFTDecoder
from audiogen.codec.model import Codec
from audiogen.codec.seanet import SEANetDecoder


def _stft_same(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """`[B, T]` (T a multiple of hop) → `[B, n_fft // 2 + 1, T / hop]`: Hann-windowed frames centred
    as the inverse STFT expects (frame t covers t·hop − pad .. t·hop − pad + n_fft)."""
    pad = (n_fft - hop) // 2
    frames = torch.nn.functional.pad(x, (pad, pad)).unfold(-1, n_fft, hop)  # [B, T/hop, n_fft]
    return torch.fft.rfft(frames * torch.hann_window(n_fft), dim=-1).transpose(1, 2)


@pytest.mark.parametrize("n_fft,hop", [(512, 128), (256, 128), (1280, 320)])
def test_inverse_stft_inverts_an_stft_of_the_same_framing(n_fft, hop):
    torch.manual_seed(0)
    x = 0.3 * torch.randn(2, 40 * hop)
    y = InverseSTFT(n_fft, hop)(_stft_same(x, n_fft, hop))
    assert y.shape == x.shape
    torch.testing.assert_close(y, x, atol=1e-4, rtol=0)


def test_inverse_stft_rejects_a_window_shorter_than_the_hop():
    with pytest.raises(ValueError, match="n_fft"):
        InverseSTFT(64, 128)


def test_codec_with_istft_decoder_shapes():
    torch.manual_seed(0)
    cfg = preset("tiny", decoder="istft", fourier_dim=32, fourier_layers=2)
    codec = Codec(cfg)
    assert isinstance(codec.decoder, ISTFTDecoder)
    t = 7 * codec.hop_length + 5
    wav = 0.1 * torch.randn(3, 1, t)
    y, codes, _ = codec(wav)
    assert y.shape == (3, 1, t) and torch.isfinite(y).all()
    assert codes.shape == (3, cfg.num_codebooks, 8)
    codec.eval()
    out = codec.decode(codec.encode(wav))
    assert out.shape == (3, 1, 8 * codec.hop_length)


def test_istft_output_inside_full_scale_whatever_the_latents():
    torch.manual_seed(0)
    cfg = preset("tiny", decoder="istft", fourier_dim=32, fourier_layers=2)
    dec = ISTFTDecoder(cfg)
    with torch.no_grad():  # push every magnitude to its cap: the loudest thing the head can say
        dec.out.bias[: dec.bins].fill_(50.0)
        for z in (torch.randn(2, cfg.dimension, 20), 1e4 * torch.randn(2, cfg.dimension, 20)):
            y = dec(z)
            assert y.shape == (2, 1, 20 * cfg.hop_length)
            assert float(y.abs().max()) <= 1.0
            assert float(y.abs().max()) > 0.5  # saturates smoothly: loud, not silenced


def test_istft_decoder_never_produces_the_dc_bin():
    """The mel loss cannot see 0 Hz, so the head must not produce it: even with the DC logit pushed
    far up, the spectrum handed to the inverse STFT has nothing at bin 0 (and something elsewhere)."""
    torch.manual_seed(0)
    cfg = preset("tiny", decoder="istft", fourier_dim=32, fourier_layers=2)
    dec = ISTFTDecoder(cfg)
    seen = []
    dec.istft.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    with torch.no_grad():
        dec.out.bias[0] = 20.0
        dec(torch.randn(2, cfg.dimension, 30))
    spec = seen[0]
    assert spec.shape == (2, dec.bins, 30)
    assert float(spec[:, 0].abs().max()) == 0.0 and float(spec[:, 1:].abs().max()) > 0.0


def test_istft_decoder_learns_a_tone():
    """A steady 1 kHz tone from constant latents: a few Adam steps on the spectrum bring it close."""
    torch.manual_seed(0)
    cfg = preset("tiny", decoder="istft", fourier_dim=32, fourier_layers=1)
    dec = ISTFTDecoder(cfg)
    frames = 40
    t = torch.arange(frames * cfg.hop_length) / cfg.sample_rate
    target = 0.5 * torch.sin(2 * torch.pi * 1000 * t)[None, None]
    z = torch.ones(1, cfg.dimension, frames)
    opt = torch.optim.Adam(dec.parameters(), lr=3e-3)

    def spec_err() -> torch.Tensor:
        s = lambda w: torch.stft(w[:, 0], 512, 128, window=torch.hann_window(512), return_complex=True).abs()  # noqa: E731
        return (s(dec(z)) - s(target)).abs().mean()

    with torch.no_grad():
        before = float(spec_err())
    for _ in range(150):
        opt.zero_grad()
        loss = spec_err()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert float(spec_err()) < 0.2 * before


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    codec = Codec(preset("tiny", decoder="istft", fourier_dim=32, fourier_layers=2, n_fft=256)).eval()
    codes = torch.randint(0, codec.cardinality, (2, codec.num_codebooks, 12))
    codec.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())["codec"]
    assert (saved["decoder"], saved["fourier_dim"], saved["fourier_layers"], saved["n_fft"]) == ("istft", 32, 2, 256)
    loaded = Codec.from_pretrained(tmp_path)
    assert isinstance(loaded.decoder, ISTFTDecoder)
    assert torch.equal(loaded.decode(codes), codec.decode(codes))


def test_configs_without_the_option_load_as_seanet():
    d = preset("tiny").to_dict()
    for key in ("encoder", "decoder", "fourier_dim", "fourier_layers", "n_fft"):
        d.pop(key)
    cfg = CodecConfig.from_dict(d)
    assert cfg.decoder == "seanet"
    assert isinstance(Codec(cfg).decoder, SEANetDecoder)
    with pytest.raises(ValueError, match="decoder"):
        CodecConfig(decoder="wavenet")


def test_stft_encoder_is_causal_and_batching_exact():
    """The Fourier encoder's frames look only back: a clip zero-padded inside a longer batch gets the
    codes it gets alone, and a later change of the waveform changes no earlier frame."""
    from audiogen.codec.stft_encoder import STFTEncoder

    torch.manual_seed(0)
    cfg = preset("tiny", encoder="stft", decoder="istft", fourier_dim=32, fourier_layers=2)
    codec = Codec(cfg)
    assert isinstance(codec.encoder, STFTEncoder)
    codec(0.1 * torch.randn(2, 1, 20 * codec.hop_length))  # k-means init
    codec.eval()
    a, b = 0.1 * torch.randn(5 * codec.hop_length + 3), 0.1 * torch.randn(30 * codec.hop_length)
    got = codec.encode_clips([a, b])
    assert torch.equal(got[0], codec.encode(a[None, None])[0]) and got[0].shape == (2, 6)
    assert torch.equal(got[1], codec.encode(b[None, None])[0])
    z = codec.encoder(b[None, None])
    changed = b.clone()
    changed[20 * codec.hop_length:] += 0.5
    z2 = codec.encoder(changed[None, None])
    assert torch.equal(z[..., :20], z2[..., :20]) and not torch.equal(z[..., 20:], z2[..., 20:])
