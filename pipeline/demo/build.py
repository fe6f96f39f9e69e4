"""`python -m pipeline.demo --out DIR [--seed 0]`: the embedded demo corpora.

Writes all ten corpora of CORPORA.md in their official layouts under `DIR/<registry name>/`,
filled with procedurally synthesised sounds (pipeline.demo.sounds) whose captions and tags describe
them (pipeline.demo.catalog), plus planted cases for the later stages: speech-labelled clips,
cross-corpus duplicates, AudioCaps-test leakage, broken files, missing audio, a malformed row, a
video-only row, and non-speech clips with a sentence spoken over them (espeak-ng when installed,
pipeline.demo.voice) that no label or caption mentions. `DIR/demo_expectations.json` lists every clip and planted case (schema in
`expectations()`), so tests can check what each stage should find. Same seed → identical bytes.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from pipeline.demo.catalog import Scene
from pipeline.demo.freesound import write_clotho, write_fsd50k
from pipeline.demo.libraries import write_bbc, write_free_to_use, write_odeon, write_sonniss, write_wesoundeffects
from pipeline.demo.writer import CorpusWriter, YoutubeIds, rng_for
from pipeline.demo.youtube import Shared, write_audiocaps, write_audioset, write_vggsound

EXPECTATIONS = "demo_expectations.json"
SCHEMA_VERSION = 2

WRITERS: dict[str, Callable[[CorpusWriter, Shared], None]] = {
    "audioset": write_audioset,
    "audiocaps": write_audiocaps,
    "clotho": write_clotho,
    "vggsound": write_vggsound,
    "fsd50k": write_fsd50k,
    "bbc_sound_effects": lambda w, sh: write_bbc(w),
    "free_to_use_sounds": lambda w, sh: write_free_to_use(w),
    "sonniss": lambda w, sh: write_sonniss(w),
    "wesoundeffects": lambda w, sh: write_wesoundeffects(w),
    "odeon": lambda w, sh: write_odeon(w),
}
CORPORA = tuple(WRITERS)


def shared_plan(seed: int) -> Shared:
    ids = YoutubeIds(seed)
    rng = rng_for(seed, "shared")
    return Shared(
        ids=ids,
        dup_id=ids.new(), dup_start=30, dup_scene=Scene(("dog", "rain"), "with"),
        leak_id=ids.new(), leak_start=120, leak_scene=Scene(("siren", "wind"), "with"),
        freesound_dup=int(rng.integers(600000, 700000)), freesound_scene=Scene(("birds", "stream"), "with"),
    )


def _prepare_out(out: Path) -> None:
    """Remove a previous demo's corpus folders; refuse to touch folders a demo did not write."""
    stale = [out / name for name in CORPORA if (out / name).exists()]
    if stale and not (out / EXPECTATIONS).exists():
        raise SystemExit(f"demo: {out} already holds {', '.join(p.name for p in stale)} but no {EXPECTATIONS}: "
                         "not a previous demo output, refusing to overwrite (choose another --out)")
    for path in stale:
        shutil.rmtree(path)
    (out / EXPECTATIONS).unlink(missing_ok=True)


def expectations(seed: int, writers: dict[str, CorpusWriter]) -> dict[str, Any]:
    """The `demo_expectations.json` document.

    - `corpora.<name>`: `root` (folder under DIR), `metadata` (metadata files, relative to root),
      `counts` (`rows`: clips an adapter should yield as ManifestRows, `ok`: of those, decodable,
      `broken`, and one count per reject reason), `clips` (one entry per expected ManifestRow, see
      below), `rejects` ({reason, source, ...}: rows the adapter must reject), `skipped_files`
      (non-audio files and previews an adapter skips silently).
    - clip entry: `source` (`<metadata file>:<line>` as the contract defines it, or the file's path
      for libraries), `split`, `audio` (path relative to root), `sample_rate`, `channels`, `format`,
      `subtype`, `file_seconds`, `broken` (null | "garbage": header unreadable | "truncated": header
      fine, decoding fails), `youtube_id`, `youtube_start_s`, `freesound_id`, `duration_s`
      (metadata value or null), `offset_s` (after ingest's whole-video decision), `whole_video`,
      `captions`, `caption` (raw caption the adapter should set; tag corpora: labels joined ", "),
      `labels`, `label_ids`, `kinds` (synthesised sounds), `speech`, `speech_modes` (subset of
      ["strict", "paper"]: label/caption rules that should flag it), `spoken` (null, or the
      sentence talked over the clip: `text`, `voice`, `engine`, `start_s`, `seconds`). AudioCaps val/test add `lines` (all
      five rows), BBC `description` (raw) and `location`, libraries `text_source`
      (bext|info|id3|filename), `text`, `keywords` (words the caption should contain) and
      `drop_tokens` (codes, layouts, creator ids, take numbers a name parser should drop).
    - `duplicates`: groups of clips in different corpora sharing a YouTube id+start or a Freesound id.
    - `leakage`: AudioCaps test YouTube ids and the training clips elsewhere that share the id.
    - `speech`, `spoken_speech`, `broken_audio`: flat lists (corpus, source, audio, ...) for convenience;
      `spoken_speech` holds the clips only the audio filter can find (speech in the audio, none in the text).
    - `speech_engine`: what spoke the planted sentences (`espeak-ng <version>`, or the formant voice).
    """
    corpora = {name: w.summary() for name, w in writers.items()}
    clips = [c for w in writers.values() for c in w.clips]

    def ref(c: dict[str, Any]) -> dict[str, Any]:
        return {"corpus": c["corpus"], "source": c["source"], "split": c["split"], "audio": c["audio"]}

    groups: dict[tuple, list] = defaultdict(list)
    for c in clips:
        if c.get("youtube_id") is not None:
            groups[("youtube", c["youtube_id"], c["youtube_start_s"])].append(c)
        if c.get("freesound_id") is not None:
            groups[("freesound", c["freesound_id"], None)].append(c)
    duplicates = [
        {"kind": kind, "id": ident, **({"youtube_start_s": start} if kind == "youtube" else {}),
         "members": [ref(c) for c in members]}
        for (kind, ident, start), members in sorted(groups.items(), key=lambda kv: str(kv[0]))
        if len({c["corpus"] for c in members}) > 1
    ]
    test_ids = sorted({c["youtube_id"] for c in clips if c["corpus"] == "audiocaps" and c["split"] == "test"})
    leakage = []
    for yid in test_ids:
        train = [ref(c) for c in clips if c.get("youtube_id") == yid and c["split"] != "test"]
        if train:
            leakage.append({"youtube_id": yid, "test": [ref(c) for c in clips if c.get("youtube_id") == yid
                                                        and c["corpus"] == "audiocaps" and c["split"] == "test"],
                            "train": train})
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": "pipeline.demo",
        "seed": seed,
        "corpora": corpora,
        "duplicates": duplicates,
        "leakage": leakage,
        "speech": [{**ref(c), "speech_modes": c["speech_modes"], "kinds": c["kinds"]}
                   for c in clips if c["speech"] or c["speech_modes"]],
        "spoken_speech": [{**ref(c), "spoken": c["spoken"], "kinds": c["kinds"]} for c in clips if c.get("spoken")],
        "speech_engine": next((c["spoken"]["engine"] for c in clips if c.get("spoken")), None),
        "broken_audio": [{**ref(c), "broken": c["broken"]} for c in clips if c["broken"]],
        "totals": {
            "clips": len(clips),
            "seconds": round(sum(w.seconds for w in writers.values()), 3),
            "bytes": sum(w.nbytes for w in writers.values()),
        },
    }


def write_demo(out: str | Path, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Write every corpus under `out` and `out/demo_expectations.json`; returns the expectations."""
    from pipeline.manifest import write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _prepare_out(out)
    shared = shared_plan(seed)
    writers: dict[str, CorpusWriter] = {}
    names: Any = CORPORA
    if progress:
        from tqdm import tqdm

        names = tqdm(CORPORA, desc="demo corpora", unit="corpus", file=sys.stderr)
    for name in names:
        writers[name] = CorpusWriter(out / name, name, seed)
        WRITERS[name](writers[name], shared)
    doc = expectations(seed, writers)
    write_json(doc, out / EXPECTATIONS)
    return doc


def main(argv: list[str] | None = None) -> None:
    from pipeline.common import load_params

    from audiogen.io.arguments import seed

    params = load_params("demo")
    try:
        default_seed = seed.check(params.get("seed", 0), "params.yaml demo.seed")
    except ValueError as err:
        raise SystemExit(f"demo: {err}") from None
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=params.get("out", "data/raw/demo"), help="output folder (params demo.out)")
    parser.add_argument("--seed", type=seed, default=default_seed, help=f"in [0, {seed.hi}] (params demo.seed)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    doc = write_demo(args.out, args.seed, progress=True)
    per = ", ".join(f"{name} {c['counts']['rows']}" for name, c in doc["corpora"].items())
    tot = doc["totals"]
    print(f"demo: {tot['clips']} clips ({per}), {tot['seconds']:.1f} s of audio, {tot['bytes'] / 1e6:.1f} MB "
          f"in {time.perf_counter() - t0:.1f} s → {args.out}")


if __name__ == "__main__":
    main()
