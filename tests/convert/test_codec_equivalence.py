"""The converted audiocraft EnCodec against audiocraft's own outputs (tests/fixtures/audiocraft, made
by audiocraft's code on tiny random weights in the release's file format; AUDIOCRAFT.md §G), the
released-size key set, the export back, and the errors on packages it cannot convert."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from audiogen.codec import Codec
from audiogen.convert.codec import (
    audiocraft_state, codec_config_from_xpcfg, codec_from_audiocraft, codec_to_audiocraft,
)
from audiogen.convert.package import ConversionError, Package, read_package, write_package

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "audiocraft"
PACKAGES = {"constant": FIX / "compression_state_dict.bin", "reflect": FIX / "compression_state_dict_reflect.bin"}


@pytest.fixture(scope="module")
def reference() -> dict:
    return torch.load(FIX / "codec_reference.pt", map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, Path]:
    """Both fixture packages converted (then loaded back from disk by the tests)."""
    root = tmp_path_factory.mktemp("converted")
    for mode, pkg in PACKAGES.items():
        codec_from_audiocraft(pkg, root / mode / "codec")
    return {mode: root / mode / "codec" for mode in PACKAGES}


def _expected(reference: dict, mode: str) -> dict:
    return reference if mode == "constant" else {**reference, **reference["reflect"]}


@pytest.mark.parametrize("mode", ["constant", "reflect"])
@pytest.mark.parametrize("clip", ["1s", "odd"])
def test_codes_bit_exact_and_waveforms_close(converted, reference, mode, clip):
    """1 s (16000 samples) and odd-length (2 × 16123: exercises the per-layer extra padding) clips."""
    codec = Codec.from_pretrained(converted[mode])
    ref = _expected(reference, mode)
    wav = reference[f"wav_{clip}"]
    assert codec.config.causal is False and codec.config.pad_mode == mode and codec.config.vq_distance == "full"
    latents = codec.encoder(codec._pad(wav))
    assert latents.shape == ref[f"latents_{clip}"].shape
    assert (latents - ref[f"latents_{clip}"]).abs().max().item() < 1e-5
    codes = codec.encode(wav)
    assert codes.shape == ref[f"codes_{clip}"].shape  # ceil(T / 320) frames, no pre-padding
    assert torch.equal(codes, ref[f"codes_{clip}"])
    decoded = codec.decode(ref[f"codes_{clip}"])
    assert decoded.shape == ref[f"decoded_{clip}"].shape  # T' · 320, not trimmed (as audiocraft)
    assert (decoded - ref[f"decoded_{clip}"]).abs().max().item() < 1e-5
    if clip == "1s" and mode == "constant":
        assert torch.equal(codec.quantizer.decode(codes), reference["quantized_1s"])


def test_pad_modes_give_different_codes(converted, reference):
    """The two fixture packages hold the same weights; only seanet.pad_mode differs (§F.5)."""
    const = Codec.from_pretrained(converted["constant"]).encode(reference["wav_1s"])
    refl = Codec.from_pretrained(converted["reflect"]).encode(reference["wav_1s"])
    assert int((const != refl).sum()) == reference["reflect"]["codes_1s_differ_from_constant"] == 32


def test_batching_never_changes_codes(converted, reference):
    """The encoder looks ahead: zero-padding a clip changes its last frames (audiocraft's own
    reference shows it), so `encode_clips` batches only equal lengths and gives each clip its
    one-clip codes."""
    codec = Codec.from_pretrained(converted["constant"])
    half = reference["wav_half"][0, 0]
    assert torch.equal(codec.encode(half[None, None]), reference["codes_half_alone"])
    padded = torch.nn.functional.pad(half, (0, 8000))
    assert torch.equal(codec.encode(padded[None, None])[..., :25], reference["codes_half_zero_padded"])
    differ = (reference["codes_half_alone"] != reference["codes_half_zero_padded"]).any(1)[0].nonzero()[:, 0]
    assert differ.tolist() == reference["frames_differing_when_padded"].tolist() == [21, 22, 23, 24]

    odd = reference["wav_odd"][:, 0]
    clips = [half, odd[0], reference["wav_1s"][0, 0], odd[1], half.flip(0), odd[0][:-1]]
    batched = codec.encode_clips(clips)
    for clip, codes in zip(clips, batched):
        assert torch.equal(codes, codec.encode(clip[None, None])[0])
    assert torch.equal(batched[1], reference["codes_odd"][0]) and torch.equal(batched[3], reference["codes_odd"][1])


def _released_lines() -> list[tuple[str, list[int], str, str]]:
    rows = []
    for line in (FIX / "released_keys_codec.txt").read_text().splitlines():
        key, shape, kind, dtype = line.split("\t")
        rows.append((key, json.loads(shape), kind, dtype))
    return rows


def test_released_size_keys_and_shapes():
    """The codec built from the released xp.cfg (on the meta device) has exactly the release's 116
    tensors: names (in order), shapes, parameter-or-buffer, float32."""
    from omegaconf import OmegaConf

    text = (FIX / "released_codec_xpcfg.yaml").read_text()
    pkg = Package(path=FIX / "released_codec_xpcfg.yaml", best_state={}, cfg=OmegaConf.create(text), xp_cfg=text,
                  version="")
    cfg = codec_config_from_xpcfg(pkg)
    assert (cfg.strides, cfg.n_filters, cfg.dimension, cfg.num_codebooks, cfg.codebook_size) == \
        ((2, 4, 5, 8), 64, 128, 4, 2048)
    assert cfg.frame_rate == 50 and cfg.hop_length == 320
    with torch.device("meta"):
        codec = Codec(cfg)
    state = audiocraft_state(codec)
    buffers = {n for n, _ in codec.named_buffers()}
    kinds = {}
    for name in [n for n, _ in codec.named_parameters()] + sorted(buffers):
        kinds[name] = "buffer" if name in buffers else "param"
    ours = [(k, list(v.shape), str(v.dtype)) for k, v in state.items()]
    released = _released_lines()
    assert ours == [(k, s, d) for k, s, _, d in released]
    n_params = sum(v.numel() for k, v in state.items() if not k.startswith("quantizer."))
    assert n_params == 56_819_138 and len(state) == 116
    assert sum(1 for _, _, kind, _ in released if kind == "buffer") == len(buffers) == 16
    assert sorted(k for k, _, kind, _ in released if kind == "buffer") == sorted(
        k for k in state if k.startswith("quantizer."))


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_export_round_trip(converted, tmp_path, mode):
    """convert → export → convert gives identical tensors; the exported package has the fixture's
    keys (in order), shapes and values, and its xp.cfg the fixture's codec sections."""
    from omegaconf import OmegaConf

    source = read_package(PACKAGES[mode], "codec")
    best_state, xp = codec_to_audiocraft(converted[mode])
    assert list(best_state) == list(source.best_state)
    for key, tensor in source.best_state.items():
        assert best_state[key].dtype == torch.float32 and torch.equal(best_state[key], tensor), key
    exported = OmegaConf.create(xp)
    for sec in ("encodec", "seanet", "rvq"):
        want = OmegaConf.to_container(source.cfg[sec], resolve=True)
        got = OmegaConf.to_container(exported[sec], resolve=True)
        assert set(got) == set(want), sec
        assert got == want, sec
    assert exported.compression_model == "encodec" and exported.sample_rate == 16000 and exported.channels == 1

    path = write_package(tmp_path / "compression_state_dict.bin", best_state, xp)
    again = codec_from_audiocraft(path, tmp_path / "again")
    first = Codec.from_pretrained(converted[mode])
    assert again.config == first.config
    a, b = first.state_dict(), Codec.from_pretrained(tmp_path / "again").state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    meta = json.loads((tmp_path / "again" / "config.json").read_text())
    assert meta["converted_from"]["file"] == "compression_state_dict.bin"


def test_converted_checkpoint_is_deterministic(tmp_path):
    for run in ("a", "b"):
        codec_from_audiocraft(PACKAGES["constant"], tmp_path / run)
    for name in ("config.json", "model.safetensors"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporary folder left


def _edited(tmp_path: Path, edit_cfg=None, edit_state=None, extra: dict | None = None) -> Path:
    import yaml

    pkg = torch.load(PACKAGES["constant"], map_location="cpu", weights_only=True)
    if edit_cfg:
        cfg = yaml.safe_load(pkg["xp.cfg"])
        edit_cfg(cfg)
        pkg["xp.cfg"] = yaml.safe_dump(cfg)
    if edit_state:
        edit_state(pkg["best_state"])
    pkg.update(extra or {})
    path = tmp_path / "compression_state_dict.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(pkg, path)
    return path


def _set(path: str, v):
    def edit(cfg):
        *parents, last = path.split(".")
        node = cfg
        for p in parents:
            node = node[p]
        node[last] = v
    return edit


@pytest.mark.parametrize("edit,needle", [
    (_set("channels", 2), "channels = 2"),
    (_set("sample_rate", 32000), "sample_rate = 32000"),
    (_set("encodec.causal", True), "encodec.causal = True"),
    (_set("seanet.pad_mode", "replicate"), "seanet.pad_mode = 'replicate'"),
    (_set("seanet.activation", "GELU"), "seanet.activation = 'GELU'"),
    (_set("seanet.norm", "time_group_norm"), "seanet.norm = 'time_group_norm'"),
    (_set("encodec.renormalize", True), "encodec.renormalize = True"),
    (_set("seanet.dilation_base", 3), "seanet.dilation_base = 3"),
    (_set("compression_model", "dac"), "compression_model = 'dac'"),
])
def test_unsupported_settings_are_refused(tmp_path, edit, needle):
    path = _edited(tmp_path, edit_cfg=edit)
    with pytest.raises(ConversionError) as err:
        codec_from_audiocraft(path, tmp_path / "out")
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and needle in msg
    assert not (tmp_path / "out").exists() and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_bad_packages_are_refused(tmp_path):
    cases = {
        "pretrained": _edited(tmp_path / "p", extra={"pretrained": "facebook/encodec_32khz"}),
        "has shape": _edited(tmp_path / "s", edit_state=lambda s: s.__setitem__(
            "quantizer.vq.layers.0._codebook.embed", torch.zeros(64, 16))),
        "lacks 1 tensor": _edited(tmp_path / "m", edit_state=lambda s: s.pop("decoder.model.15.conv.conv.bias")),
        "has no place": _edited(tmp_path / "x", edit_state=lambda s: s.__setitem__("encoder.extra.weight",
                                                                                     torch.zeros(1))),
        "describes an LM": FIX / "lm_state_dict.bin",
    }
    truncated = tmp_path / "t" / "compression_state_dict.bin"
    truncated.parent.mkdir()
    truncated.write_bytes(PACKAGES["constant"].read_bytes()[:50_000])
    cases["not a complete"] = truncated
    for needle, path in cases.items():
        if not Path(path).exists():
            pytest.skip(f"fixture {path} missing")
        with pytest.raises(ConversionError) as err:
            codec_from_audiocraft(path, tmp_path / "out")
        assert needle in str(err.value) and "\n" not in str(err.value) and str(path) in str(err.value)
    assert not (tmp_path / "out").exists()
    # another sample rate is a choice of the caller (None accepts any)
    with pytest.raises(ConversionError, match="sample_rate = 16000"):
        codec_from_audiocraft(PACKAGES["constant"], tmp_path / "out", sample_rate=24000)


def test_existing_output_is_not_overwritten(tmp_path):
    (tmp_path / "codec").mkdir()
    (tmp_path / "codec" / "mine.txt").write_text("keep")
    with pytest.raises(ConversionError, match="not empty"):
        codec_from_audiocraft(PACKAGES["constant"], tmp_path / "codec")
    assert (tmp_path / "codec" / "mine.txt").read_text() == "keep"
