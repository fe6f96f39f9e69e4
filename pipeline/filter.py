"""`python -m pipeline.filter --manifests DIR --out DIR`: ingested corpora → train/valid/test.

Reads every `<DIR>/<corpus>/manifest.parquet` and applies, in this order (each step's drops land
in rejects.jsonl with their reason):
  1. leakage (pipeline/filtering/leakage.py): train/valid rows sharing a YouTube id with the AudioCaps test
     split (`leak_audiocaps_test`) or a Freesound id / file with Clotho's evaluation split
     (`leak_clotho_eval`); test rows of corpora outside `test_corpora` (`held_out_test`).
     First, so that a leaking copy is dropped rather than merged into a training row.
  2. duplicates (pipeline/filtering/dedupe.py): one row per YouTube window / Freesound id (`duplicate`).
     Before speech, so that a merged row is judged on all of its members' tags and captions.
  3. speech (pipeline/filtering/speech.py): every row gets its label/caption verdict (is_speech,
     speech_reason, by `speech_rules`) and `speech_by_audio` (whether prepare's audio verdict drops
     its clips, by `speech_mode`); train and valid rows whose labels decide are dropped here
     (`speech`: modes labels and either); test rows are annotated but never dropped.
Writes train.parquet, valid.parquet, test.parquet (manifest schema, byte-identical on re-runs),
rejects.jsonl and stats.json (rows/hours per corpus and split before and after, drops per reason
per corpus).
"""
from __future__ import annotations

import argparse
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pipeline.common import load_params, setup_logging
from pipeline.filtering.dedupe import DEFAULT_PRIORITY, dedupe, with_origins
from pipeline.filtering.leakage import apply_leakage
from audiogen.io.atomic import OutputSet
from pipeline.manifest import SPLITS, read_manifest, reject_ids, write_json, write_manifest, write_rejects
from pipeline.filtering.ontology import HUBBUB_ID, SPEECH_ID, resolve_ontology
from pipeline.filtering.speech import (CAPTION_PATTERNS, DECISION_MODES, VGGSOUND_SPEECH, VGGSOUND_VOICE_LIKE,
                             SpeechConfig, SpeechDetector, audio_decides, filter_drops)

log = logging.getLogger("audiogen")

Row = dict[str, Any]


@dataclass(frozen=True)
class FilterConfig:
    """params.yaml `filter` (lists there become tuples here).

    test_corpora          corpora whose test split is kept as test (others' are held out)
    dedupe_priority       which corpus wins a duplicate group (earlier wins)
    speech_mode           who decides: labels | audio | either | confirm | off (pipeline/filtering/speech.py);
                          the old values strict / paper still mean `labels` with those rules
    speech_rules          what a label/caption hit is: strict | paper
    ontology              path to AudioSet ontology.json (null: <corpora.audioset.root>/ontology.json
                          if present, else the bundled Speech subtree)
    speech_root_ids       ontology subtrees that are speech
    speech_extra_ids      single ids that are speech too
    speech_classes        class names that are speech (VGGSound)
    speech_voice_like     also drop VGGSound's voice-like classes
    voice_like_classes    those classes
    speech_caption_patterns  regexes (case-insensitive) over free-text captions
    """

    test_corpora: tuple[str, ...] = ("audiocaps",)
    dedupe_priority: tuple[str, ...] = DEFAULT_PRIORITY
    speech_mode: str = "either"
    speech_rules: str = "strict"
    ontology: str | None = None
    speech_root_ids: tuple[str, ...] = (SPEECH_ID,)
    speech_extra_ids: tuple[str, ...] = (HUBBUB_ID,)
    speech_classes: tuple[str, ...] = VGGSOUND_SPEECH
    speech_voice_like: bool = False
    voice_like_classes: tuple[str, ...] = VGGSOUND_VOICE_LIKE
    speech_caption_patterns: tuple[str, ...] = CAPTION_PATTERNS

    def __post_init__(self) -> None:
        if self.speech_mode in ("strict", "paper"):  # params written before the audio modes
            object.__setattr__(self, "speech_rules", self.speech_mode)
            object.__setattr__(self, "speech_mode", "labels")
        if self.speech_mode not in DECISION_MODES:
            raise ValueError(f"filter.speech_mode must be one of {DECISION_MODES}, got {self.speech_mode!r}")
        if self.speech_rules not in ("strict", "paper"):
            raise ValueError(f"filter.speech_rules must be strict or paper, got {self.speech_rules!r}")

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> "FilterConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise SystemExit(f"params.yaml filter: unknown keys {unknown}; known: {sorted(known)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}
        if values.get("speech_mode") is False:  # YAML 1.1 reads a bare `off` as false
            values["speech_mode"] = "off"
        try:
            return cls(**values)
        except ValueError as err:
            raise SystemExit(str(err)) from err

    def speech(self) -> SpeechConfig:
        rules = "off" if self.speech_mode == "off" else self.speech_rules
        return SpeechConfig(mode=rules, root_ids=self.speech_root_ids, extra_ids=self.speech_extra_ids,
                            class_names=self.speech_classes, voice_like=self.speech_voice_like,
                            voice_like_names=self.voice_like_classes, caption_patterns=self.speech_caption_patterns)


def _hours(rows: list[Row]) -> float:
    return round(sum(float(r.get("duration_s") or 0.0) for r in rows) / 3600, 6)


def tally(rows: list[Row]) -> dict[str, dict[str, dict[str, float]]]:
    """corpus → split → {rows, hours}."""
    by: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        by[(r["corpus"], r["split"])].append(r)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (corpus, split), group in sorted(by.items()):
        out.setdefault(corpus, {})[split] = {"rows": len(group), "hours": _hours(group)}
    return out


def read_manifests(manifests: Path, exclude: Path | None = None) -> list[Row]:
    """Every `<manifests>/<corpus>/manifest.parquet`, in corpus order."""
    paths = sorted(p for p in manifests.glob("*/manifest.parquet")
                   if exclude is None or p.parent.resolve() != exclude.resolve())
    if not paths:
        raise SystemExit(f"filter: no <corpus>/manifest.parquet under {manifests}")
    rows: list[Row] = []
    for path in paths:
        part = read_manifest(path)
        log.info("filter: %s: %d rows", path, len(part))
        rows.extend(part)
    keys = Counter(r["key"] for r in rows)
    dup = sorted(k for k, n in keys.items() if n > 1)
    if dup:
        raise SystemExit(f"filter: keys appear in more than one manifest under {manifests}: {dup[:5]}")
    return rows


def run_filter(rows: list[Row], config: FilterConfig,
               detector: SpeechDetector) -> tuple[list[Row], list[Row], list[Row]]:
    """(kept rows, rejects, rows judged for speech: kept or dropped) — the steps of the module docstring."""
    from tqdm import tqdm

    kept, rejects = apply_leakage(rows, config.test_corpora)
    test = [with_origins(r) for r in kept if r["split"] == "test"]
    merged, dup_rejects = dedupe((r for r in kept if r["split"] != "test"), config.dedupe_priority)
    rejects += dup_rejects
    out: list[Row] = []
    judged: list[Row] = []
    for row in tqdm(merged + test, desc="filter: speech", unit=" rows", mininterval=1.0, disable=None):
        reason = detector.reason(row)
        hit, trainable = reason is not None, row["split"] != "test"
        row = dict(row, is_speech=hit, speech_reason=reason,
                   speech_by_audio=trainable and audio_decides(config.speech_mode, hit))
        judged.append(row)
        if trainable and filter_drops(config.speech_mode, hit):
            rejects.append({"stage": "filter", "reason": "speech", "key": row["key"],
                            "source": row.get("source") or row["key"], "corpus": row["corpus"], "detail": reason,
                            "duration_s": row.get("duration_s"), **reject_ids(row)})
            continue
        out.append(row)
    return out, rejects, judged


def speech_stats(judged: list[Row], config: FilterConfig) -> dict[str, Any]:
    """Label/caption hits per corpus and split, what the filter dropped, what it left to prepare's audio."""
    dropped = [r for r in judged if r["split"] != "test" and filter_drops(config.speech_mode, r["is_speech"])]
    return {"mode": config.speech_mode, "rules": config.speech_rules,
            "label_hits": tally([r for r in judged if r["is_speech"]]), "dropped": tally(dropped),
            "left_to_audio": tally([r for r in judged if r["speech_by_audio"]])}


def make_stats(before: list[Row], after: list[Row], rejects: list[Row], config: FilterConfig,
               ontology_path: str | None, judged: list[Row] | None = None) -> dict[str, Any]:
    drops: dict[str, Counter] = defaultdict(Counter)
    for r in rejects:
        drops[r["corpus"]][r["reason"]] += 1
    return {
        "before": tally(before),
        "after": tally(after),
        "drops": {c: dict(sorted(d.items())) for c, d in sorted(drops.items())},
        "drops_total": dict(sorted(Counter(r["reason"] for r in rejects).items())),
        "rows_out": {s: sum(1 for r in after if r["split"] == s) for s in SPLITS},
        "hours_out": {s: _hours([r for r in after if r["split"] == s]) for s in SPLITS},
        "speech_mode": config.speech_mode,
        "speech_rules": config.speech_rules,
        "speech": speech_stats(judged if judged is not None else after, config),
        "ontology": ontology_path or "bundled",
        "test_corpora": list(config.test_corpora),
    }


def format_hours(hours: float) -> str:
    return f"{hours:.1f} h" if hours >= 1 else f"{hours:.3f} h"


def summary_line(stats: dict[str, Any]) -> str:
    rows = stats["rows_out"]
    hours = sum(stats["hours_out"].values())
    drops = ", ".join(f"{n} {reason}" for reason, n in stats["drops_total"].items()) or "nothing"
    left = sum(v["rows"] for c in stats.get("speech", {}).get("left_to_audio", {}).values() for v in c.values())
    return (f"filter: {rows['train']} train / {rows['valid']} valid / {rows['test']} test rows ({format_hours(hours)}); "
            f"dropped {drops}; speech mode {stats['speech_mode']} ({stats['speech_rules']} rules): "
            f"{left} rows left to prepare's audio check")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    setup_logging()
    p = argparse.ArgumentParser(prog="python -m pipeline.filter", description=__doc__.split("\n")[0])
    p.add_argument("--manifests", type=Path, default=Path("data/manifests"),
                   help="directory holding <corpus>/manifest.parquet")
    p.add_argument("--out", type=Path, default=Path("data/manifests/filtered"))
    p.add_argument("--speech-mode", choices=DECISION_MODES + ("strict", "paper"),
                   help="override params filter.speech_mode (who decides what is speech)")
    p.add_argument("--speech-rules", choices=("strict", "paper"), help="override params filter.speech_rules")
    args = p.parse_args(argv)

    section = dict(load_params("filter"))
    if args.speech_mode:
        section["speech_mode"] = args.speech_mode
    if args.speech_rules:
        section["speech_rules"] = args.speech_rules
    config = FilterConfig.from_params(section)
    audioset_root = (load_params("corpora").get("audioset") or {}).get("root")
    ontology = resolve_ontology(config.ontology, audioset_root)
    detector = SpeechDetector(config.speech(), ontology)

    rows = read_manifests(args.manifests, exclude=args.out)
    kept, rejects, judged = run_filter(rows, config, detector)
    stats = make_stats(rows, kept, rejects, config, ontology.path, judged)
    with OutputSet() as outputs:  # the three splits, rejects and stats appear together, or none of them
        for split in SPLITS:
            write_manifest([r for r in kept if r["split"] == split], args.out / f"{split}.parquet", outputs)
        write_rejects(rejects, args.out / "rejects.jsonl", outputs)
        write_json(stats, args.out / "stats.json", outputs)
    print(summary_line(stats))
    return stats


if __name__ == "__main__":
    from pipeline.common import run_stage

    run_stage(main, "filter")
