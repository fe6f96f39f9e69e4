"""Rejects a person can search (DESIGN.md "Rejects"): every stage's reject line names the clip as its
user knows it — `youtube_id`, `audio_path`, `source_id` — besides our key, so that `grep <youtube id>
rejects.jsonl` or `grep <file path> rejects.jsonl` finds it. Runs the real chain on four demo corpora
(ingest → filter → prepare → tokenize, local Ray) and greps the outputs with the real `grep`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline.common
from audiogen.io.shards import ShardWriter, iter_shard, list_shards
from pipeline import filter as filt
from pipeline import ingest
from pipeline.prepare import prepare
from pipeline.preparing.plan import PrepareConfig
from pipeline.tokenize import tokenize
from pipeline.tokenizing.config import TokenizeConfig

CORPORA = ("audioset", "audiocaps", "clotho", "fsd50k")
YOUTUBE = ("audioset", "audiocaps")
ID_FIELDS = ("youtube_id", "audio_path", "source_id")


@pytest.fixture(scope="module")
def chain(tmp_path_factory, ray_local):
    """The demo corpora, then each stage's output dir: {"raw", "doc", "ingest": {corpus: dir}, "filter",
    "prepare", "tokenize", "broken_key"} (tokenize runs on a copy of the audio shards with one clip broken)."""
    import torch

    from audiogen.codec import Codec, preset

    root = tmp_path_factory.mktemp("rejects")
    subprocess.run([sys.executable, "-m", "pipeline.demo", "--out", str(root / "raw")], check=True,
                   capture_output=True, timeout=300)
    params = root / "params.yaml"
    params.write_text("ingest:\n  max_reject_fraction: 0.5\nprepare:\n  max_reject_fraction: 0.5\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline.common, "PARAMS_FILE", params)
        for corpus in CORPORA:
            ingest.main(["--corpus", corpus, "--root", str(root / "raw" / corpus),
                         "--out", str(root / "manifests" / corpus)])
        filt.main(["--manifests", str(root / "manifests"), "--out", str(root / "manifests" / "filtered")])
    prepare(root / "manifests" / "filtered", root / "audio", PrepareConfig.from_dict(dict(shard_mb=0.5, workers=2)))

    # A copy of one audio shard whose first clip no longer decodes: tokenize must reject it by name.
    (src,) = list_shards(root / "audio", split="train", corpus="audiocaps")[:1]
    (root / "audio_broken").mkdir()
    samples = list(iter_shard(src))
    with ShardWriter(root / "audio_broken" / src.name) as w:
        for i, (key, members) in enumerate(samples):
            w.write(key, {**members, "flac": b"fLaC truncated"} if i == 0 else members)
    torch.manual_seed(0)
    Codec(preset("tiny")).eval().save_pretrained(root / "codec")
    tokenize(root / "codec", root / "audio_broken", root / "tokens",
             TokenizeConfig.from_dict(dict(batch_size=4, concurrency=1, max_reject_fraction=0.9)))
    return {"raw": root / "raw", "doc": json.loads((root / "raw" / "demo_expectations.json").read_text()),
            "ingest": {c: root / "manifests" / c for c in CORPORA}, "filter": root / "manifests" / "filtered",
            "prepare": root / "audio", "tokenize": root / "tokens",
            "broken": json.loads(samples[0][1]["json"])}


def grep(needle: str, stage_dir: Path) -> list[dict]:
    """What a person gets from `grep -F -e <needle> rejects.jsonl` (-e: YouTube ids may start with -), parsed."""
    r = subprocess.run(["grep", "-F", "-e", needle, str(stage_dir / "rejects.jsonl")], capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def _lines(stage_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (stage_dir / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]


def test_every_keyed_reject_names_the_clip(chain):
    dirs = [*chain["ingest"].values(), chain["filter"], chain["prepare"], chain["tokenize"]]
    stages = set()
    for d in dirs:
        for r in _lines(d):
            stages.add(r["stage"])
            if r.get("key"):
                assert any(r.get(f) for f in ID_FIELDS), r
                if r["corpus"] in YOUTUBE:
                    assert r.get("youtube_id"), r
    assert stages == {"ingest", "filter", "prepare", "tokenize"}


def test_grep_a_youtube_id_finds_its_line(chain):
    doc = chain["doc"]
    # ingest: every YouTube row the demo lists without audio, and the malformed id as written
    for corpus in YOUTUBE:
        missing = [r for r in doc["corpora"][corpus]["rejects"] if r["reason"] == "missing_audio"]
        assert missing
        for expected in missing:
            (line,) = grep(expected["youtube_id"], chain["ingest"][corpus])
            assert line["youtube_id"] == expected["youtube_id"] and line["reason"] == "missing_audio"
            assert line["source"] == expected["source"]
    (line,) = grep("hJc2-PIXxq", chain["ingest"]["audioset"])
    assert line["reason"] == "malformed_row" and line["youtube_id"] == "hJc2-PIXxq"
    # filter: a speech clip of AudioSet's train split, found by its (case-sensitive) YouTube id
    by_source = {c["source"]: c for c in doc["corpora"]["audioset"]["clips"]}
    speech = [by_source[s["source"]]["youtube_id"] for s in doc["speech"]
              if s["corpus"] == "audioset" and s["split"] == "train" and "strict" in s["speech_modes"]]
    assert speech
    for yid in speech:
        lines = [r for r in grep(yid, chain["filter"]) if r["youtube_id"] == yid]
        assert lines and lines[0]["reason"] in ("speech", "duplicate"), (yid, lines)
    # tokenize: the clip broken in the audio shard copy
    broken = chain["broken"]
    (line,) = grep(broken["youtube_id"], chain["tokenize"])
    assert line["key"] == broken["key"] and line["reason"] == "decode" and line["audio_path"] == broken["audio_path"]


def test_grep_a_file_path_finds_its_line(chain):
    doc = chain["doc"]
    for b in doc["broken_audio"]:
        if b["corpus"] not in CORPORA:
            continue
        path = str(chain["raw"] / b["corpus"] / b["audio"])
        # unreadable headers are ingest's; a truncated FLAC passes the header probe and fails in prepare
        lines = grep(path, chain["ingest"][b["corpus"]]) + grep(path, chain["prepare"])
        assert len(lines) == 1, (path, lines)
        assert lines[0]["audio_path"] == path and lines[0]["source"] == b["source"]
        assert lines[0]["reason"] in ("unreadable_audio", "undecodable")
    # the corpus's own id: an FSD50K clip listed without its file
    (missing,) = [r for r in _lines(chain["ingest"]["fsd50k"]) if r["reason"] == "missing_audio"]
    fname = missing["source_id"]
    assert grep(fname, chain["ingest"]["fsd50k"])[0]["audio_path"].endswith(f"/{fname}.wav")
    # tokenize: the original file of the broken clip
    (line,) = grep(chain["broken"]["audio_path"], chain["tokenize"])
    assert line["youtube_id"] == chain["broken"]["youtube_id"]
