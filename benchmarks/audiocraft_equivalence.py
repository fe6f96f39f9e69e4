"""How close the converted AudioGen is to audiocraft's own outputs, on the fixtures made by audiocraft's
code (tests/fixtures/audiocraft/, AUDIOCRAFT.md §G): `python benchmarks/audiocraft_equivalence.py` →
`benchmarks/results/audiocraft_equivalence.json` (max abs differences; tokens differing).
The tests (tests/convert/test_lm_equivalence.py) assert the same figures against 1e-5."""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> dict:
    from audiogen.convert import from_audiocraft
    from audiogen.generate import AudioGen
    from audiogen.lm import generate_codes
    from tests.convert.lm_helpers import CODEC_PACKAGE, LM_PACKAGE, load, save_tiny_t5

    r = load("lm_reference.pt")
    tmp = Path(tempfile.mkdtemp())
    try:
        t5 = save_tiny_t5(tmp / "t5", r)
        out = from_audiocraft(LM_PACKAGE, CODEC_PACKAGE, tmp / "out", text_encoder=str(t5))
        gen = AudioGen.from_pretrained(out / "lm")
        lm, enc = gen.lm, gen.text_encoder
        res: dict = {}
        with torch.no_grad():
            for name, which, key, rows in (("batch", "text", "forward_logits", slice(None)),
                                           ("one_prompt", "text_row1_alone", "forward_logits_row1_alone", slice(1, 2))):
                ref = r[which]
                states, mask = enc(ref["prompts"])
                res[name] = {
                    "t5_states": float((states - ref["t5_states"] * ref["attention_mask"][..., None]).abs().max()),
                    "conditioning": float((lm.text_proj(states) * mask[..., None] - ref["cond"]).abs().max()),
                    "logits": float((lm(r["full_sequence"][rows], states, mask) - r[key]).abs().max())}
            res["audiocraft_padding_effect_on_logits"] = float(
                (r["forward_logits"][1] - r["forward_logits_row1_alone"][0]).abs().max())
            g = r["generate"]["cfg3"]
            t = r["text"]
            text = torch.cat([t["t5_states"], torch.zeros_like(t["t5_states"])])
            mask = torch.cat([t["attention_mask"], torch.zeros_like(t["attention_mask"])]).bool()
            cache = lm.init_cache(6, len(g["step_inputs"]) + 1, text, mask)
            res["cfg3_step_logits_kv_cache"] = max(float((lm.forward_step(i, cache) - ref_l).abs().max())
                                                   for i, ref_l in zip(g["step_inputs"], g["step_logits"]))
        res["greedy_tokens_differing"] = {}
        for tag, g in r["generate"].items():
            kw = g["kwargs"]
            prompt = r["codes"][..., :kw["prompt_frames"]] if kw["prompt_frames"] else None
            tokens = generate_codes(lm, r["text"]["t5_states"], r["text"]["attention_mask"].bool(), 9, temperature=0,
                                    cfg=3.0 if kw["two_step_cfg"] else kw["cfg_coef"], prompt_codes=prompt)
            res["greedy_tokens_differing"][tag] = int((tokens != g["tokens"]).sum())
        ag = r["audiogen"]
        codes = gen.generate_codes(ag["prompts"], ag["duration"], cfg=3.0, temperature=0)
        res["audiogen_pipeline"] = {"tokens_differing": int((codes != ag["tokens"]).sum()), "tokens": codes.numel(),
                                    "waveform": float((gen.codec.decode(codes) - ag["wav"]).abs().max())}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    dest = ROOT / "benchmarks" / "results" / "audiocraft_equivalence.json"
    dest.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
