"""`python -m pipeline.summary`: what the last `dvc repro` produced, in a few lines.

Reads the stats each stage writes (stages not run yet are skipped), so `make demo` ends with a
readable account of rows, coverage, drops, shards and the codec's reconstruction quality rather
than a wall of logs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _counts(d: dict[str, Any] | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted((d or {}).items())) or "none"


def ingest_lines(manifests: Path) -> list[str]:
    lines = []
    for stats_path in sorted(manifests.glob("*/stats.json")):
        if stats_path.parent.name == "filtered":
            continue
        s = _load(stats_path) or {}
        lines.append(
            f"  ingest   {stats_path.parent.name:<19} {s.get('rows', 0):>6} rows  "
            f"{100 * float(s.get('coverage') or 0):5.1f}% coverage  {float(s.get('hours') or 0):8.3f} h  "
            f"rejects: {_counts(s.get('rejects'))}"
        )
    return lines


def filter_lines(stats: dict[str, Any]) -> list[str]:
    rows, hours = stats.get("rows_out", {}), stats.get("hours_out", {})
    split_text = ", ".join(f"{s} {rows.get(s, 0)} rows / {float(hours.get(s, 0)):.3f} h" for s in ("train", "valid", "test"))
    return [f"  filter   {split_text}",
            f"           dropped: {_counts(stats.get('drops_total'))} (speech mode {stats.get('speech_mode')})"]


def main(argv: list[str] | None = None) -> None:
    import argparse

    argparse.ArgumentParser(prog="python -m pipeline.summary", description=__doc__.split("\n")[0]).parse_args(argv)
    data = Path("data")
    lines = ["audiogen pipeline summary"]
    lines += ingest_lines(data / "manifests")
    filtered = _load(data / "manifests" / "filtered" / "stats.json")
    if filtered:
        lines += filter_lines(filtered)
    prepared = _load(Path("reports") / "prepare" / "stats.json") or _load(data / "shards" / "audio" / "stats.json")
    if prepared:
        lines.append(f"  prepare  {prepared.get('clips', 0)} clips, {float(prepared.get('hours') or 0):.3f} h in "
                     f"{prepared.get('shards', 0)} shards ({prepared.get('resampler')}); rejects: {_counts(prepared.get('rejects'))}")
        if prepared.get("speech"):
            from pipeline.preparing.speech import summary_line as speech_line

            lines.append(f"           {speech_line(prepared['speech'])}")
    codec = _load(Path("reports") / "codec" / "metrics.json")
    if codec:
        valid = codec.get("valid", {})
        lines.append(f"  codec    step {codec.get('step')}: reconstruction SI-SNR {float(valid.get('si_snr', float('nan'))):.2f} dB, "
                     f"mel distance {float(valid.get('mel_distance', float('nan'))):.3f} (validation clips)")
    tokens = _load(data / "shards" / "tokens" / "stats.json")
    if tokens:
        lines.append(f"  tokenize {tokens.get('clips', 0)} clips, {tokens.get('frames', 0)} frames x {tokens.get('num_codebooks')} "
                     f"codebooks at {tokens.get('frame_rate')} Hz in {tokens.get('shards', 0)} shards")
    lines += model_lines()
    print("\n".join(lines))


def model_lines() -> list[str]:
    """The tagger, the LM (validation loss beside the codes' unigram entropy) and the evaluation."""
    lines = []
    tagger = _load(Path("reports") / "tagger" / "metrics.json")
    if tagger:
        lines.append(f"  tagger   {tagger.get('classes', '?')} classes: valid mAP {float(tagger.get('valid_map', float('nan'))):.3f}, "
                     f"top-1 {float(tagger.get('valid_top1', float('nan'))):.3f}")
    lm = _load(Path("reports") / "train" / "metrics.json")
    if lm:
        v = lm.get("valid", {})
        loss, uni = float(v.get("loss", float("nan"))), float(v.get("unigram_entropy", float("nan")))
        lines.append(f"  train    step {lm.get('step')}: valid loss {loss:.3f} nats/token vs unigram entropy of the codes "
                     f"{uni:.3f} ({loss / uni:.0%} of it); {lm.get('skipped_steps', 0)} skipped steps")
    ev = _load(Path("reports") / "eval" / "metrics.json")
    if ev:
        lines.append(f"  evaluate γ={ev.get('cfg'):g}, {ev.get('n_references')} references / {ev.get('n_generated')} generations: "
                     f"FAD {ev['fad']:.2f}, KL {ev['kl']:.3f}, CLAP {ev['clap']:.3f} (FAD {ev.get('fad_backend')}, "
                     f"KL {ev.get('kl_backend')}, CLAP {ev.get('clap_backend')})")
        lines.append(f"           codec ceiling: FAD {ev['codec_fad']:.2f}, KL {ev['codec_kl']:.3f}, CLAP {ev['codec_clap']:.3f}")
        sweep = sorted(k for k in ev if k.startswith("sweep_kl_cfg"))
        lines.append("           CFG sweep: " + ", ".join(
            f"γ={k[len('sweep_kl_cfg'):]} FAD {ev['sweep_fad_cfg' + k[len('sweep_kl_cfg'):]]:.2f} KL {ev[k]:.3f}" for k in sweep))
        if "top_label_match" in ev:
            lines.append(f"           {str(ev.get('kl_backend')).split(':')[0]} top class of generation = reference's: {ev['top_label_match']:.0%} "
                         f"(chance {ev['top_label_chance']:.0%}); = codec-rendered reference's: "
                         f"{ev['top_label_match_codec_ref']:.0%} (chance {ev['top_label_chance_codec_ref']:.0%})")
        if "kl_vs_codec_ref" in ev:
            lines.append(f"           KL against the codec-rendered references: {ev['kl_vs_codec_ref']:.3f}; by γ: " + ", ".join(
                f"{k[len('sweep_kl_codec_ref_cfg'):]}: {ev[k]:.3f}" for k in sorted(ev) if k.startswith("sweep_kl_codec_ref_cfg")))
        lines += judge_lines(ev)
        lines.append("           report: reports/eval/index.html (open it in a browser)")
    return lines


def judge_lines(ev: dict[str, Any]) -> list[str]:
    """The judge's figures (evaluate.judge, the demo's aisfx), each beside its chance."""
    if "judge_backend" not in ev:
        return []
    pct = lambda k: f"{float(ev[k]):.0%}"  # noqa: E731
    lines = []
    if "judge_kind_reference" in ev:
        lines.append(f"  judge    {ev['judge_backend']}: nearest other reference of the clip's own kind: references "
                     f"{pct('judge_kind_reference')}, codec renderings {pct('judge_kind_codec')} (ceiling), "
                     f"generations {pct('judge_kind_generated')} (chance {pct('judge_kind_chance')}; "
                     f"{ev.get('judge_kind_n')} references, {ev.get('judge_kinds')} kinds)")
        sweep = sorted((float(k[len("sweep_judge_kind_cfg"):]), v) for k, v in ev.items() if k.startswith("sweep_judge_kind_cfg"))
        if sweep:
            lines.append("           generations of the own kind by γ: " + ", ".join(f"{g:g}: {float(v):.0%}" for g, v in sweep))
    head = "  judge    " if not lines else "           "
    lines.append(f"{head}generation → own reference: R@1 {pct('judge_r1')} (chance {pct('judge_r1_chance')}), "
                 f"R@5 {pct('judge_r5')} (chance {pct('judge_r5_chance')}); codec renderings R@1 "
                 f"{pct('judge_codec_r1')}, R@5 {pct('judge_codec_r5')}")
    return lines


if __name__ == "__main__":
    main()
