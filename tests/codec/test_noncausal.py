"""The codec's audiocraft-compatibility options (AUDIOCRAFT.md §D.2): non-causal padding with
per-layer extra padding, constant / reflect pad modes, symmetric transposed-conv trims, no waveform
pre-padding, the full RVQ distance; the defaults stay this project's causal codec. The converted
release codec itself is checked against audiocraft's outputs in tests/convert/."""
from __future__ import annotations

import pytest
import torch

from audiogen.codec.config import PRESETS, CodecConfig, preset
from audiogen.codec.model import Codec
from audiogen.codec.quantizer import EMACodebook
from audiogen.codec.seanet import PaddedConv1d, TrimmedConvTranspose1d, pad1d


def test_defaults_are_the_causal_codec():
    assert (CodecConfig().causal, CodecConfig().pad_mode, CodecConfig().vq_distance) == (True, "constant", "reduced")
    assert all(c.causal and c.pad_mode == "constant" and c.vq_distance == "reduced" for c in PRESETS.values())
    old = {k: v for k, v in preset("tiny").to_dict().items() if k not in ("causal", "pad_mode", "vq_distance")}
    assert CodecConfig.from_dict(old) == preset("tiny")  # a config.json written before these options
    with pytest.raises(ValueError, match="pad_mode"):
        preset("tiny", pad_mode="replicate")
    with pytest.raises(ValueError, match="vq_distance"):
        preset("tiny", vq_distance="cosine")


def test_reflect_pad_of_a_short_input():
    """Reflection needs more samples than the pad: zeros go on the right first and are cut after."""
    x = torch.tensor([[[1.0, 2.0]]])
    assert pad1d(x, 3, 3, "reflect").tolist() == [[[0.0, 0.0, 2.0, 1.0, 2.0, 0.0, 0.0, 0.0]]]
    y = torch.arange(6.0)[None, None]
    assert torch.equal(pad1d(y, 2, 1, "reflect"), torch.nn.functional.pad(y, (2, 1), mode="reflect"))
    assert torch.equal(pad1d(y, 2, 1, "constant"), torch.nn.functional.pad(y, (2, 1)))


@pytest.mark.parametrize("stride", [1, 2, 5, 8])
@pytest.mark.parametrize("length", [1, 7, 40, 41, 83])
def test_noncausal_conv_padding(stride, length):
    """Centred padding `(total - total//2, total//2)` plus the extra right padding of a full last
    window: ceil(T / stride) frames for any T; the extra padding lies after the input only."""
    torch.manual_seed(0)
    kernel = 2 * stride if stride > 1 else 3
    conv = PaddedConv1d(2, 3, kernel, stride=stride, causal=False)
    x = torch.randn(1, 2, length)
    y = conv(x)
    assert y.shape[-1] == -(-length // stride)
    total = kernel - stride
    left = total - total // 2
    want = conv.conv(torch.nn.functional.pad(x, (left, kernel + stride * y.shape[-1])))[..., : y.shape[-1]]
    assert torch.allclose(y, want, atol=1e-6)


@pytest.mark.parametrize("stride", [2, 4, 5, 8])
def test_transposed_trims(stride):
    torch.manual_seed(0)
    x = torch.randn(1, 4, 6)
    causal = TrimmedConvTranspose1d(4, 2, 2 * stride, stride, causal=True)
    noncausal = TrimmedConvTranspose1d(4, 2, 2 * stride, stride, causal=False)
    noncausal.load_state_dict(causal.state_dict())
    full = causal.conv(x)
    right = stride // 2
    assert torch.equal(noncausal(x), full[..., stride - right: full.shape[-1] - right])
    assert torch.equal(causal(x), full[..., : full.shape[-1] - stride])
    assert noncausal(x).shape[-1] == causal(x).shape[-1] == 6 * stride


def test_full_distance_is_the_nearest_code():
    torch.manual_seed(0)
    book = EMACodebook(64, 8, 0.99, 5, 2.0, 1e-5, distance="full").eval()
    book.embed.normal_()
    x = torch.randn(500, 8)
    exact = ((x.double()[:, None] - book.embed.double()[None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(book.codes(x), exact)
    book.distance = "reduced"
    assert torch.equal(book.codes(x), exact)


@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_noncausal_codec_any_length_and_batching(pad_mode):
    torch.manual_seed(2)
    codec = Codec(preset("tiny", causal=False, pad_mode=pad_mode, vq_distance="full", codebook_size=32))
    y, codes, _ = codec(0.3 * torch.randn(3, 1, 1000))  # train mode: shapes and the k-means init
    assert y.shape == (3, 1, 1000) and codes.shape == (3, 2, 8)
    codec.eval()
    lengths = [1000, 1, 127, 129, 1000, 640, 127, 1000]
    clips = [0.3 * torch.randn(n) for n in lengths]
    batched = codec.encode_clips(clips)
    for clip, got in zip(clips, batched):
        alone = codec.encode(clip[None, None])[0]
        assert got.shape == alone.shape == (2, codec.num_frames(clip.shape[0]))
        assert torch.equal(got, alone)
    # The encoder looks ahead: zero-padding a clip (what the causal codec's batching does) changes
    # its codes, which is why encode_clips never pads a non-causal codec's clips.
    padded = torch.nn.functional.pad(clips[3][None, None], (0, 871))
    assert not torch.equal(codec.encode(padded)[0, :, : batched[3].shape[-1]], batched[3])
    assert codec.decode(batched[0][None]).shape == (1, 1, 8 * codec.hop_length)
