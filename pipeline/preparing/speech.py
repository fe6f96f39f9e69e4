"""Speech in the audio, inside the prepare stage: measure every clip, record it, drop where the audio decides.

Prepare already holds each clip as 16 kHz mono PCM (what the shard stores), which is what the
voice-activity detector (audiogen.speech.vad) reads: no second decode. Clips are measured in batches of
about `prepare.vad.max_batch_s` seconds across rows (see prepare_shard.iter_clips).

Who decides a row's speech verdict is the filter's choice (`filter.speech_mode`), passed down in
the manifest column `speech_by_audio` (pipeline.filtering.speech.audio_decides): true → prepare drops the
row's clips whose speech fraction passes `prepare.max_speech_fraction` (when `speech_audio: drop`);
false → the labels already decided (the row was kept). A manifest without the column (not written
by our filter) lets the audio decide. The test split is never dropped.

Every measured clip's json gets `speech_s`, `speech_fraction`, `speech_segments` ([start, end] in
seconds) and `speech_audio` (the audio's verdict); clips not measured get nulls. Each shard's
record counts the speech found and, for comparison, what every filter mode would drop of the
measured train/valid clips (`by_mode`), from the row's label verdict (`is_speech`) and the audio's.
"""
from __future__ import annotations

from typing import Any

from audiogen.speech.vad import SpeechResult
from pipeline.preparing.plan import PrepareConfig
from pipeline.filtering.speech import DECISION_MODES, combine

REASON = "speech_audio"


def audio_decides(row: dict[str, Any]) -> bool:
    """Whether this row's clips are dropped when their audio is speech (never for the test split)."""
    if row.get("split") == "test":
        return False
    flag = row.get("speech_by_audio")
    return True if flag is None else bool(flag)


def needs_measure(row: dict[str, Any], cfg: PrepareConfig) -> bool:
    if cfg.speech_audio == "off":
        return False
    return cfg.speech_measure == "all" or audio_decides(row)


def speech_fields(result: SpeechResult | None, cfg: PrepareConfig) -> dict[str, Any]:
    """The clip-json fields; nulls when the clip was not measured."""
    if result is None:
        return {"speech_s": None, "speech_fraction": None, "speech_segments": None, "speech_audio": None}
    return {"speech_s": result.speech_s, "speech_fraction": result.fraction,
            "speech_segments": [list(s) for s in result.segments],
            "speech_audio": result.fraction > cfg.max_speech_fraction}


def drop_detail(row: dict[str, Any], result: SpeechResult | None, cfg: PrepareConfig) -> str | None:
    """Why this clip is dropped for speech, or None to keep it."""
    if cfg.speech_audio != "drop" or result is None or not audio_decides(row):
        return None
    if result.fraction <= cfg.max_speech_fraction:
        return None
    labels = f"; labels/captions: {row['speech_reason']}" if row.get("is_speech") and row.get("speech_reason") else ""
    return (f"{result.speech_s:.2f} s of speech in {result.duration_s:.2f} s ({result.fraction:.0%}) "
            f"> max_speech_fraction {cfg.max_speech_fraction:.0%}{labels}")


def new_tally() -> dict[str, Any]:
    return {"measured_clips": 0, "measured_seconds": 0.0, "speech_seconds": 0.0, "speech_clips": 0,
            "speech_clip_seconds": 0.0, "label_clips": 0, "label_seconds": 0.0, "dropped_clips": 0,
            "dropped_seconds": 0.0, "rows_dropped": 0,
            "by_mode": {m: {"clips": 0, "seconds": 0.0} for m in DECISION_MODES}}


def count(tally: dict[str, Any], row: dict[str, Any], result: SpeechResult | None, cfg: PrepareConfig,
          dropped: bool) -> None:
    """Add one clip (kept or dropped) to a shard's speech tally."""
    if result is None:
        return
    seconds = result.duration_s
    audio_hit = result.fraction > cfg.max_speech_fraction
    label_hit = bool(row.get("is_speech"))
    tally["measured_clips"] += 1
    tally["measured_seconds"] += seconds
    tally["speech_seconds"] += result.speech_s
    tally["speech_clips"] += audio_hit
    tally["speech_clip_seconds"] += seconds * audio_hit
    tally["label_clips"] += label_hit
    tally["label_seconds"] += seconds * label_hit
    tally["dropped_clips"] += dropped
    tally["dropped_seconds"] += seconds * dropped
    if row.get("split") != "test":
        for mode, t in tally["by_mode"].items():
            if combine(mode, label_hit, audio_hit):
                t["clips"] += 1
                t["seconds"] += seconds


def round_tally(tally: dict[str, Any]) -> dict[str, Any]:
    out = {k: round(v, 3) if isinstance(v, float) else v for k, v in tally.items() if k != "by_mode"}
    out["by_mode"] = {m: {"clips": t["clips"], "seconds": round(t["seconds"], 3)} for m, t in tally["by_mode"].items()}
    return out


def merge(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum shard tallies; seconds become hours (`*_hours`), as the rest of stats.json."""
    total = new_tally()
    for t in tallies:
        for k, v in t.items():
            if k == "by_mode":
                for m, d in v.items():
                    total["by_mode"].setdefault(m, {"clips": 0, "seconds": 0.0})
                    total["by_mode"][m]["clips"] += d["clips"]
                    total["by_mode"][m]["seconds"] += d["seconds"]
            else:
                total[k] += v
    out: dict[str, Any] = {}
    for k, v in total.items():
        if k == "by_mode":
            out[k] = {m: {"clips": d["clips"], "hours": round(d["seconds"] / 3600, 4)} for m, d in v.items()}
        elif k.endswith("_seconds"):
            out[k[: -len("_seconds")] + "_hours"] = round(v / 3600, 4)
        else:
            out[k] = v
    return out


def summarise(parts: list[dict[str, Any]], cfg: PrepareConfig) -> dict[str, Any]:
    """stats.json `speech`: totals, per `<split>/<corpus>`, and what each filter mode would drop."""
    groups: dict[str, list[dict]] = {}
    for p in parts:
        if p.get("speech"):
            groups.setdefault(f"{p['split']}/{p['corpus']}", []).append(p["speech"])
    return {
        "speech_audio": cfg.speech_audio,
        "max_speech_fraction": cfg.max_speech_fraction,
        "measure": cfg.speech_measure,
        **merge([p["speech"] for p in parts if p.get("speech")]),
        "by_split_corpus": {g: merge(ts) for g, ts in sorted(groups.items())},
    }


def summary_line(speech: dict[str, Any]) -> str:
    """One line for logs and the pipeline summary."""
    if speech.get("speech_audio") == "off":
        return "speech in audio: not measured (prepare.speech_audio: off)"
    modes = ", ".join(f"{m} {d['clips']}" for m, d in speech.get("by_mode", {}).items())
    return (f"speech in audio ({speech['speech_audio']}, > {speech['max_speech_fraction']:.0%}): "
            f"{speech['speech_hours']:.3f} h found in {speech['measured_clips']} clips, "
            f"{speech['speech_clips']} mostly speech; dropped {speech['dropped_clips']} clips "
            f"({speech['dropped_hours']:.3f} h); train/valid clips each filter mode would drop: {modes}")
