"""Write everything `audiogen.evaluate` leaves in `reports/eval/`: metrics.json, per_clip.csv,
cfg_sweep.json (DVC plot), sweep.png, WAVs and spectrograms of the sampled captions, index.html."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from audiogen.evaluation.report.page import ReportClip, save_spectrogram, save_sweep_plot, write_index


def _fmt(v: float, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def build_report(out: Path, cfg, metrics: dict[str, Any], refs, codec_set, generated, main, ceiling, sweep,
                 backends, sr: int, judge=None) -> Path:
    """`judge`: an `audiogen.evaluation.judge.ReportView` (per-clip nearest references), or None."""
    import soundfile as sf

    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (out / "cfg_sweep.json").write_text(json.dumps(sweep, indent=1) + "\n", encoding="utf-8")
    save_sweep_plot(sweep, out / "sweep.png")

    # per_clip.csv: one line per generated clip
    owner = [i for i, clips in enumerate(generated) for _ in clips]
    tagger = backends["kl"] if hasattr(backends["kl"], "top_label") else None
    with open(out / "per_clip.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        judge_cols = ["kinds", "judge_rank_of_reference", "judge_nearest_to_generation", "judge_nearest_to_codec",
                      "judge_nearest_to_reference"] if judge is not None else []
        w.writerow(["key", "caption", "generation", "duration_s", "kl", "clap", "codec_kl", "codec_clap"] + judge_cols)
        seen: dict[int, int] = {}
        for j, i in enumerate(owner):
            g = seen.get(i, 0)
            seen[i] = g + 1
            extra = ["+".join(refs[i].kinds), judge.generated_rank[j], judge.generated[j], judge.codec[i],
                     judge.reference[i]] if judge is not None else []
            w.writerow([refs[i].key, refs[i].caption, g, f"{len(refs[i].audio) / sr:.3f}",
                        _fmt(main["kl_per_clip"][j], 4), _fmt(main["clap_per_clip"][j], 4),
                        _fmt(ceiling["kl_per_clip"][i], 4), _fmt(ceiling["clap_per_clip"][i], 4)] + extra)

    # The listening table: an evenly spaced sample of captions.
    n = min(cfg.report_clips, len(refs))
    picks = sorted({int(round(x)) for x in np.linspace(0, len(refs) - 1, n)}) if n else []
    clips = []
    for i in picks:
        r = refs[i]
        waves = {"reference": r.audio, "codec": codec_set[i][0], "generated": generated[i][0]}
        audio, specs, tops = {}, {}, {}
        for kind, wav in waves.items():
            rel_wav, rel_png = f"audio/{r.key}_{kind}.wav", f"spectrograms/{r.key}_{kind}.png"
            (out / "audio").mkdir(exist_ok=True)
            sf.write(str(out / rel_wav), np.clip(wav, -1, 1), sr, subtype="PCM_16")
            save_spectrogram(wav, sr, out / rel_png)
            audio[kind], specs[kind] = rel_wav, rel_png
            if tagger is not None:
                label, p = tagger.top_label(wav, sr)
                tops[kind] = f"{label} ({p:.2f})"
        near = {}
        if judge is not None:  # the first generation of caption i is flat index first[i]
            first = owner.index(i)
            near = {"reference": judge.reference[i], "codec": judge.codec[i],
                    "generated": f"{judge.generated[first]}; own reference ranked {judge.generated_rank[first]}"}
        clips.append(ReportClip(r.caption, r.key, audio, specs, tops, near,
                                "+".join(r.kinds) if judge is not None and judge.has_kinds else ""))

    m = metrics
    rows = [
        ("FAD ↓", _fmt(m["fad"], 2), f"{m['n_generated']} generated vs {m['n_references']} references", m["fad_backend"]),
        ("KL ↓", _fmt(m["kl"]), f"{m['n_generated']} pairs", m["kl_backend"]),
        ("CLAP score ↑", _fmt(m["clap"]), f"{m['clap_n']} clips whose caption names a class" if m["clap_backend"] == "tagger"
         else f"{m['n_generated']} clips", m["clap_backend"]),
        ("codec ceiling FAD", _fmt(m["codec_fad"], 2), f"{m['n_references']} references through the codec", m["fad_backend"]),
        ("codec ceiling KL", _fmt(m["codec_kl"]), f"{m['n_references']} pairs", m["kl_backend"]),
        ("codec ceiling CLAP", _fmt(m["codec_clap"]), "references through the codec", m["clap_backend"]),
    ]
    rows.append(("KL vs codec-rendered references ↓", _fmt(m["kl_vs_codec_ref"]),
                 f"{m['n_generated']} pairs (isolates the LM from the codec)", m["kl_backend"]))
    if "top_label_match" in m:
        rows.append(("top label = reference's", f"{m['top_label_match']:.0%}",
                     f"chance {m['top_label_chance']:.0%}", m["kl_backend"]))
        rows.append(("top label = codec-rendered reference's", f"{m['top_label_match_codec_ref']:.0%}",
                     f"chance {m['top_label_chance_codec_ref']:.0%}", m["kl_backend"]))
    rows += judge_rows(m)
    for row in sweep:
        rows.append((f"γ = {row['cfg']:g}: FAD / KL", f"{_fmt(row['fad'], 2)} / {_fmt(row['kl'])}",
                     f"{m['n_generated']} generated", f"{m['fad_backend']} / {m['kl_backend']}"))
    notes = [f"Guidance γ = {cfg.cfg:g}, top-k {cfg.top_k}, top-p {cfg.top_p:g}, temperature {cfg.temperature:g}, "
             f"seed {cfg.seed}; references: splits {', '.join(cfg.splits)} ({m['n_references']} clips, "
             f"{cfg.generations_per_caption} generation(s) each).",
             "The codec ceiling scores the references passed through the codec: no LM can beat it."]
    if "judge_backend" in m:
        notes.append(f"Judge ({m['judge_backend']}): a network nobody here trained. Retrieval ranks all "
                     f"{m['n_references']} references by its cosine similarity to each generated clip; the nearest "
                     "reference kind of a clip is the sound kind of its most similar other reference (its own left "
                     "out), so the codec renderings' figure is the generations' ceiling.")
    if m.get("fad_singular"):
        notes.append("FAD: fewer clips than embedding dimensions, so the covariance fit is singular: "
                     "compare FAD figures only at equal clip counts.")
    return write_index(out, metrics, rows, clips, "sweep.png", notes)


def judge_rows(m: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The judge's figures for the metrics table, each with its chance."""
    if "judge_backend" not in m:
        return []
    b, pct = m["judge_backend"], (lambda v: "n/a" if v is None or not math.isfinite(v) else f"{v:.0%}")
    rows = [(f"generation → own reference R@{k}", pct(m[f"judge_r{k}"]),
             f"chance {pct(m[f'judge_r{k}_chance'])}; codec renderings {pct(m[f'judge_codec_r{k}'])}", b)
            for k in (1, 5)]
    if "judge_kind_reference" in m:
        against = f"chance {pct(m['judge_kind_chance'])}; {m['judge_kind_n']} references of {m['judge_kinds']} kinds"
        rows += [("nearest reference kind = own: references", pct(m["judge_kind_reference"]), against, b),
                 ("nearest reference kind = own: codec renderings (ceiling)", pct(m["judge_kind_codec"]), against, b),
                 ("nearest reference kind = own: generations", pct(m["judge_kind_generated"]), against, b)]
    return rows
