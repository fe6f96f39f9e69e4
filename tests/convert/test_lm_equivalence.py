"""The converted LM against audiocraft's own outputs (`lm_reference.pt`, made by audiocraft's code on
the tiny random package `lm_state_dict.bin`; AUDIOCRAFT.md §G): T5 states, conditioning, logits,
greedy generation, the whole AudioGen pipeline, and the released key set."""
from __future__ import annotations

import pytest
import torch

from audiogen.convert.lm import audiocraft_state, lm_config_from_package, project_state
from audiogen.convert.package import read_package
from audiogen.lm import AudioLM, generate_codes

from .lm_helpers import FIXTURES, LM_PACKAGE, converted, lm_reference, tiny_t5_dir  # noqa: F401 (fixtures)

TOL = 1e-5


@pytest.fixture(scope="module")
def lm(converted) -> AudioLM:
    return AudioLM.from_pretrained(converted / "lm")


@pytest.fixture(scope="module")
def encoder(converted):
    from audiogen.lm.model import read_config
    from audiogen.text.encoders import FrozenTextEncoder

    return FrozenTextEncoder.from_description(read_config(converted / "lm")["text_encoder"])


def _text(ref: dict) -> tuple[torch.Tensor, torch.Tensor]:
    return ref["t5_states"], ref["attention_mask"].bool()


def test_converted_config_records_the_release_options(converted, lm):
    cfg = lm.config
    assert (cfg.dim, cfg.num_heads, cfg.num_layers, cfg.num_codebooks, cfg.cardinality, cfg.text_dim) == (64, 4, 2, 4, 32, 16)
    assert cfg.norm_bias and cfg.text_proj_bias and cfg.text_attention == "all" and cfg.pattern == "delay"
    meta = lm.checkpoint_config
    assert meta["converted_from"]["t5_name"] == "t5-large" and meta["converted_from"]["version"] == "1.4.0a2"
    assert meta["text_encoder"]["max_length"] is None and meta["text_encoder"]["hidden_size"] == 16
    assert meta["segment_s"] == 10.0 and meta["generation"]["cfg"] == 3.0
    assert meta["codec"]["path"] == str((converted / "codec").resolve())
    # fp16 values are exact in fp32: the converted weights are the package's, upcast.
    pkg = read_package(LM_PACKAGE, "LM")
    assert all(t.dtype == torch.float16 for t in pkg.best_state.values())
    assert torch.equal(lm.text_proj.bias, pkg.best_state[
        "condition_provider.conditioners.description.output_proj.bias"].float())


@pytest.mark.parametrize("which", ["text", "text_row1_alone"])
def test_t5_states_and_conditioning(encoder, lm, lm_reference, which):
    """Captions → the project's FrozenTextEncoder → states equal audiocraft's T5 output at the real
    positions (audiocraft's padded ones are multiplied by 0 after the projection), and the projected,
    masked states equal what audiocraft's T5Conditioner hands to cross-attention."""
    ref = lm_reference[which]
    states, mask = encoder(ref["prompts"])
    assert torch.equal(mask, ref["cond_mask"].bool())
    expected = ref["t5_states"] * ref["attention_mask"][..., None]
    assert (states - expected).abs().max() < TOL
    with torch.no_grad():
        cond = lm.text_proj(states) * mask[..., None]
    assert (cond - ref["cond"]).abs().max() < TOL


def test_logits_on_the_reference_sequences(lm, lm_reference):
    with torch.no_grad():
        logits = lm(lm_reference["full_sequence"], *_text(lm_reference["text"]))
    assert (logits - lm_reference["forward_logits"]).abs().max() < TOL


def test_logits_of_the_one_prompt_batch_and_the_padding_dependence(lm, lm_reference):
    """'rain' alone (L=2) and inside the batch (L=9) give different logits in audiocraft (up to ~2):
    the converted model reproduces both."""
    alone = lm_reference["text_row1_alone"]
    with torch.no_grad():
        logits = lm(lm_reference["full_sequence"][1:2], *_text(alone))
    assert (logits - lm_reference["forward_logits_row1_alone"]).abs().max() < TOL
    padding_effect = (lm_reference["forward_logits"][1] - lm_reference["forward_logits_row1_alone"][0]).abs().max()
    assert padding_effect > 1.0


def test_training_logits_on_the_valid_positions(lm, lm_reference):
    """audiocraft's compute_predictions (inputs = layout steps 0..T) on its valid positions equal the
    project's full pass at the same positions (AUDIOCRAFT.md §E)."""
    mask = lm_reference["train_mask"]
    with torch.no_grad():
        logits = lm(lm_reference["full_sequence"], *_text(lm_reference["text"]))
    t = mask.shape[-1]
    ours = torch.stack([logits[:, k, k:k + t] for k in range(4)], dim=1)  # codebook k of frame t at step t + k
    ref = lm_reference["train_logits"]
    assert (ours[mask] - ref[mask]).abs().max() < TOL and torch.isnan(ref[~mask]).all()


@pytest.mark.parametrize("tag", ["cfg1", "cfg3", "cfg7", "cfg3_prompt3", "two_step_cfg3", "two_step_cfg7"])
@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_generation_gives_audiocraft_tokens(lm, lm_reference, tag, use_cache):
    """Greedy LMModel.generate(max_gen_len=9). Two-step CFG runs the null rows apart with L=1, which
    gives the same null logits (zero text → zero cross-attention), and audiocraft's two-step path uses
    its own cfg_coef (3) whatever the argument (AUDIOCRAFT.md §F.3)."""
    g = lm_reference["generate"][tag]
    kw = g["kwargs"]
    coef = 3.0 if kw["two_step_cfg"] else kw["cfg_coef"]
    prompt = lm_reference["codes"][..., :kw["prompt_frames"]] if kw["prompt_frames"] else None
    tokens = generate_codes(lm, *_text(lm_reference["text"]), lm_reference["generate_max_gen_len"], cfg=coef,
                            temperature=0.0, prompt_codes=prompt, use_cache=use_cache)
    assert torch.equal(tokens, g["tokens"])


def test_cached_step_logits_equal_audiocraft_streaming(lm, lm_reference):
    """Every one-step forward of audiocraft's CFG3 generation (cond rows then null rows, streaming
    state) against the project's KV-cache forward_step on the same inputs."""
    g = lm_reference["generate"]["cfg3"]
    text, mask = _text(lm_reference["text"])
    text = torch.cat([text, torch.zeros_like(text)])
    mask = torch.cat([mask, torch.zeros_like(mask)])
    cache = lm.init_cache(6, len(g["step_inputs"]) + 1, text, mask)
    worst = 0.0
    with torch.no_grad():
        for inputs, ref in zip(g["step_inputs"], g["step_logits"]):
            worst = max(worst, float((lm.forward_step(inputs, cache) - ref).abs().max()))
    assert worst < TOL


def test_audiogen_pipeline_gives_audiocraft_tokens_and_audio(converted, lm_reference):
    """The real AudioGen('oracle', codec, lm) with greedy decoding, 0.5 s, CFG 3, two prompts
    against `AudioGen.from_pretrained(OUT/lm)`: same tokens; the waveform within 1e-5."""
    from audiogen.generate import AudioGen

    ref = lm_reference["audiogen"]
    gen = AudioGen.from_pretrained(converted / "lm")
    codes = gen.generate_codes(ref["prompts"], ref["duration"], cfg=3.0, temperature=0.0)
    assert torch.equal(codes, ref["tokens"])
    wav = gen.codec.decode(codes)
    assert wav.shape == ref["wav"].shape and (wav - ref["wav"]).abs().max() < TOL


def _released_keys() -> list[tuple[str, list[int]]]:
    rows = []
    for line in (FIXTURES / "released_keys_lm.txt").read_text().splitlines():
        name, shape, kind = line.split("\t")
        assert kind == "param"
        rows.append((name, [int(s) for s in shape.strip("[]").split(",")]))
    return rows


def test_released_size_keys_and_shapes(tmp_path):
    """The released xp.cfg (48 × 1536, 4 × 2048, t5-large) through the converter's checks, on the
    meta device: audiocraft's 588 keys map to an AudioLM and back, shapes and order as released."""
    from audiogen.convert.package import write_package

    released = _released_keys()
    meta_state = {k: torch.empty(s, dtype=torch.float16, device="meta") for k, s in released}
    # A package holding the released xp.cfg and one real tensor (the T5 projection sets text_dim).
    proj = "condition_provider.conditioners.description.output_proj.weight"
    path = write_package(tmp_path / "state_dict.bin", {proj: torch.zeros(1536, 1024, dtype=torch.float16)},
                         (FIXTURES / "released_lm_xpcfg.yaml").read_text())
    config, info = lm_config_from_package(read_package(path, "LM"))
    assert (config.dim, config.num_layers, config.num_heads, config.ff_dim, config.text_dim) == (1536, 48, 24, 6144, 1024)
    assert info["t5_name"] == "t5-large" and info["segment_s"] == 10.0 and info["cfg_coef"] == 3.0
    with torch.device("meta"):
        model = AudioLM(config)
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    mapped = project_state(meta_state, config, "released")
    assert {k: list(v.shape) for k, v in mapped.items()} == ours
    back = audiocraft_state(model.state_dict(), config)
    assert [(k, list(v.shape)) for k, v in back.items()] == released
    assert all(v.dtype == torch.float16 for v in back.values())
    assert sum(v.numel() for v in model.parameters()) == 1_839_131_136  # manifest.json: lm_num_params
