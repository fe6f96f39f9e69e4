"""Codec model: presets, shapes, frame rates, batching invariance, checkpoint round trip."""
from __future__ import annotations

import json

import pytest
import torch

from audiogen.codec.config import PRESETS, CodecConfig, preset
from audiogen.codec.model import Codec

EXPECTED = {  # preset: (frame rate at 16 kHz, codebooks, codebook size)
    "paper": (500.0, 1, 2048),
    "paper-2stream": (250.0, 2, 1024),
    "paper-4stream": (125.0, 4, 512),
    "audiocraft": (50.0, 4, 2048),
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_shapes_and_frame_rate(name):
    torch.manual_seed(0)
    cfg = PRESETS[name]
    codec = Codec(cfg)
    if name in EXPECTED:
        assert (codec.frame_rate, codec.num_codebooks, codec.cardinality) == EXPECTED[name]
    else:  # tiny: fast on a CPU
        assert 100 <= codec.frame_rate <= 200 and codec.num_codebooks >= 2
    assert codec.sample_rate == 16000
    assert codec.frame_rate * codec.hop_length == 16000
    # Very short audio (3 frames and a bit), so the big presets stay fast.
    t = 3 * codec.hop_length + 7
    wav = 0.1 * torch.randn(2, 1, t)
    y, codes, commit = codec(wav)  # train mode: k-means init on this batch
    assert y.shape == (2, 1, t) and torch.isfinite(y).all()
    assert codes.shape == (2, cfg.num_codebooks, 4) and commit.dim() == 0
    codec.eval()
    codes = codec.encode(wav)
    assert codes.dtype == torch.int64 and codes.shape == (2, cfg.num_codebooks, codec.num_frames(t)) == (2, cfg.num_codebooks, 4)
    assert int(codes.min()) >= 0 and int(codes.max()) < cfg.codebook_size
    out = codec.decode(codes)
    assert out.shape == (2, 1, 4 * codec.hop_length)


def test_encode_decode_round_trip_matches_forward():
    torch.manual_seed(0)
    codec = Codec(preset("tiny"))
    wav = 0.3 * torch.randn(3, 1, 16000)
    codec(wav)
    codec.eval()
    codes = codec.encode(wav)
    assert codes.shape == (3, 2, 125)
    y, fcodes, _ = codec(wav)
    assert torch.equal(codes, fcodes)
    assert torch.allclose(codec.decode(codes), y, atol=1e-6)
    # int16 codes (token shards) decode the same.
    assert torch.allclose(codec.decode(codes.to(torch.int16)), y, atol=1e-6)


@pytest.mark.parametrize("name", ["tiny", "paper-4stream"])
def test_batched_clips_give_the_codes_they_give_alone(name):
    torch.manual_seed(1)
    codec = Codec(preset(name, codebook_size=64))
    codec(0.3 * torch.randn(4, 1, 8000))
    codec.eval()
    lengths = [8000, 3001, 200, 5555, 1, 4096]
    clips = [0.3 * torch.randn(n) for n in lengths]
    batched = codec.encode_clips(clips)
    for clip, codes in zip(clips, batched):
        alone = codec.encode(clip[None, None])
        assert codes.shape == (codec.num_codebooks, codec.num_frames(clip.shape[0]))
        assert torch.equal(codes, alone[0])
    # A clip's codes do not depend on how much padding follows it.
    padded = torch.nn.functional.pad(clips[1][None, None], (0, 3000))
    assert torch.equal(codec.encode(padded)[0, :, : codec.num_frames(3001)], batched[1])
    # Deterministic: the same call twice gives the same codes.
    assert all(torch.equal(a, b) for a, b in zip(batched, codec.encode_clips(clips)))


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    codec = Codec(preset("tiny", codebook_size=32))
    wav = 0.3 * torch.randn(2, 1, 4000)
    codec(wav)
    codec.eval()
    codec.save_pretrained(tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert meta["codec"]["codebook_size"] == 32
    loaded = Codec.from_pretrained(tmp_path / "ckpt")
    assert not loaded.training and loaded.config == codec.config
    assert torch.equal(loaded.encode(wav), codec.encode(wav))
    assert torch.equal(loaded.decode(codec.encode(wav)), codec.decode(codec.encode(wav)))
    # Saving again gives byte-identical files.
    loaded.save_pretrained(tmp_path / "again")
    for name in ("config.json", "model.safetensors"):
        assert (tmp_path / "ckpt" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def test_from_pretrained_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        Codec.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="format"):
        Codec.from_pretrained(tmp_path)


def test_config_round_trip_and_bad_keys():
    cfg = preset("audiocraft", codebook_size=1024)
    assert CodecConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown codec preset"):
        preset("nope")
    with pytest.raises(ValueError, match=r"codec config: unknown key\(s\)"):
        CodecConfig.from_dict({"bogus": 1})


def test_encode_rejects_wrong_shape():
    codec = Codec(preset("tiny")).eval()
    with pytest.raises(ValueError, match=r"\[B, 1, T\]"):
        codec.encode(torch.zeros(2, 1000))


@pytest.mark.parametrize("name", ["tiny", "paper"])
def test_encoder_decoder_time_alignment(name):
    """Zero built-in delay: latent frame i sees input samples < (i + 1)·hop (and sample i·hop), and
    output frame i (samples [i·hop, (i + 1)·hop)) depends on latent frames <= i, including frame i.
    So output sample n can see input sample n: an identity reconstruction is reachable with no lag,
    and a left/right cropping or padding mistake (an offset of >= 1 frame) breaks these bounds."""
    torch.manual_seed(0)
    codec = Codec(preset(name))
    hop, frames = codec.hop_length, 6
    x = torch.zeros(1, 1, frames * hop, requires_grad=True)
    z = codec.encoder(x)
    assert z.shape[-1] == frames
    for i in (0, 3):
        (g,) = torch.autograd.grad(z[0, :, i].sum(), x, retain_graph=True)
        used = (g[0, 0].abs() > 0).nonzero().flatten()
        assert int(used.max()) == (i + 1) * hop - 1          # causal, up to the end of its frame
        assert g[0, 0, i * hop].abs() > 0                     # and it sees its own first sample
    q = torch.zeros(1, codec.config.dimension, frames, requires_grad=True)
    y = codec.decoder(q)
    assert y.shape[-1] == frames * hop
    for i in (0, 3):
        (g,) = torch.autograd.grad(y[0, 0, i * hop: (i + 1) * hop].sum(), q, retain_graph=True)
        used = (g[0].abs().sum(0) > 0).nonzero().flatten()
        assert int(used.max()) == i                           # output frame i comes from latent frame i
    # End to end (quantiser bypassed): output sample n depends on input sample n, not on later frames.
    x2 = torch.zeros(1, 1, frames * hop, requires_grad=True)
    y2 = codec.decoder(codec.encoder(x2))
    for n in (0, 2 * hop + 5, frames * hop - 1):
        (g,) = torch.autograd.grad(y2[0, 0, n], x2, retain_graph=True)
        assert g[0, 0, n].abs() > 0
        assert torch.all(g[0, 0, (n // hop + 1) * hop:] == 0)  # nothing past the end of its frame
