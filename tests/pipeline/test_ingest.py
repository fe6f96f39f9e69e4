"""Ingest over a small fixture corpus with a real local Ray: probing, window resolution, rejects,
the reject-fraction gate, determinism, and the CLI's --list."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import soundfile as sf

import pipeline.common
from pipeline import ingest
from pipeline.corpora.base import corpus_names, make_key, malformed_row, missing_audio, register
from pipeline.manifest import ManifestRow, Reject, read_manifest

CORPUS = "ingest_fixture"


@register(CORPUS)
def read_fixture(root: Path, options: dict[str, Any]) -> Iterator[ManifestRow | Reject]:
    """Test adapter: `meta.jsonl` in root, one row per line {id, split, file, offset, duration, yt_start}."""
    meta = root / "meta.jsonl"
    if not meta.exists():
        raise FileNotFoundError(f"expected {meta}")
    for n, line in enumerate(meta.read_text().splitlines(), start=1):
        source = f"meta.jsonl:{n}"
        try:
            rec = json.loads(line)
        except ValueError as err:
            yield malformed_row(CORPUS, source, str(err))
            continue
        key = make_key(CORPUS, rec["id"])
        path = root / rec["file"]
        if not path.exists():
            yield missing_audio(CORPUS, key, source, f"no file {rec['file']}")
            continue
        yield ManifestRow(key=key, corpus=CORPUS, split=rec.get("split", "train"), audio_path=str(path),
                          source=source, offset_s=rec.get("offset", 0.0), duration_s=rec.get("duration"),
                          captions=[rec["id"]], caption=rec["id"], youtube_start_s=rec.get("yt_start"))


def write_tone(path: Path, seconds: float, sr: int = 16000, channels: int = 1) -> None:
    """A real sine file (format from the extension); OGG written in chunks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    data = np.stack([0.3 * np.sin(2 * np.pi * 440 * (1 + c / 10) * t) for c in range(channels)], axis=1)
    fmt = path.suffix.lstrip(".").upper()
    with sf.SoundFile(path, "w", samplerate=sr, channels=channels, format=fmt) as f:
        for i in range(0, len(data), 4096):
            f.write(data[i:i + 4096])


def write_meta(root: Path, rows: list[dict[str, Any] | str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    (root / "meta.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture()
def params(tmp_path, monkeypatch):
    """A params.yaml of our own (small probe batches, so the Ray job has several tasks)."""
    path = tmp_path / "params.yaml"
    path.write_text("ingest:\n  probe_batch_size: 2\n  max_reject_fraction: 0.4\n")
    monkeypatch.setattr(pipeline.common, "PARAMS_FILE", path)
    return path


@pytest.fixture()
def corpus(tmp_path) -> Path:
    root = tmp_path / "corpus"
    write_tone(root / "plain.wav", 0.3)
    write_tone(root / "stereo.ogg", 0.5, sr=44100, channels=2)
    write_tone(root / "whole.flac", 3.0)   # a whole video: the window [2, 3) is inside it
    write_tone(root / "cut.flac", 1.0)     # the cut segment of a window starting at 5 s
    (root / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    (root / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    write_meta(root, [
        {"id": "plain", "file": "plain.wav"},
        {"id": "stereo", "file": "stereo.ogg", "split": "valid"},
        {"id": "whole", "file": "whole.flac", "offset": None, "yt_start": 2.0, "duration": 1.0},
        {"id": "cut", "file": "cut.flac", "offset": None, "yt_start": 5.0, "duration": 10.0, "split": "test"},
        {"id": "late", "file": "plain.wav", "offset": 5.0},
        {"id": "broken", "file": "broken.wav"},
        {"id": "video", "file": "clip.mp4"},
        {"id": "gone", "file": "missing.wav"},
        "{not json",
        {"id": "plain", "file": "plain.wav"},
    ])
    return root


def test_ingest_fixture_corpus(ray_local, params, corpus, tmp_path, capsys):
    out = tmp_path / "out"
    result = ingest.main(["--corpus", CORPUS, "--root", str(corpus), "--out", str(out)])
    rows = {r["key"].split("-", 1)[1]: r for r in read_manifest(out / "manifest.parquet")}
    assert sorted(rows) == ["cut", "plain", "stereo", "whole"]

    # header probing fills the columns
    assert (rows["plain"]["sample_rate"], rows["plain"]["channels"]) == (16000, 1)
    assert rows["plain"]["audio_format"] == "WAV/PCM_16"
    assert rows["plain"]["duration_s"] == pytest.approx(0.3)
    assert (rows["stereo"]["sample_rate"], rows["stereo"]["channels"]) == (44100, 2)
    assert rows["stereo"]["audio_format"].startswith("OGG/")
    assert rows["stereo"]["file_duration_s"] == pytest.approx(0.5)
    # offset resolution: whole video → the row's start; cut file → 0, window clipped to the file
    assert (rows["whole"]["offset_s"], rows["whole"]["duration_s"]) == (2.0, 1.0)
    assert (rows["cut"]["offset_s"], rows["cut"]["duration_s"]) == (0.0, 1.0)

    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    by_reason = {}
    for r in rejects:
        by_reason.setdefault(r["reason"], []).append(r)
    assert sorted(by_reason) == ["duplicate_key", "empty_audio", "malformed_row", "missing_audio",
                                 "unreadable_audio", "unsupported_container"]
    unreadable = by_reason["unreadable_audio"][0]
    assert unreadable["key"] == make_key(CORPUS, "broken") and unreadable["source"] == "meta.jsonl:6"
    assert "broken.wav" in unreadable["detail"] and "Error" in unreadable["detail"]  # the decoder's message
    assert by_reason["empty_audio"][0]["key"] == make_key(CORPUS, "late")
    assert "extract the audio" in by_reason["unsupported_container"][0]["detail"]

    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows"] == 4 and stats["rows_listed"] == 10
    assert stats["rows_found"] == 8  # all but the missing file and the unparsable line
    assert stats["coverage"] == pytest.approx(0.8)
    assert stats["hours_per_split"]["train"] == pytest.approx((0.3 + 1.0) / 3600, abs=1e-6)
    assert stats["rejects"]["missing_audio"] == 1
    assert stats == result.stats
    assert capsys.readouterr().out.strip().endswith(f"{CORPUS}: 4 rows, 80.0% coverage, 0.001 h, 6 rejects")

    # same inputs → byte-identical outputs
    out2 = tmp_path / "out2"
    ingest.main(["--corpus", CORPUS, "--root", str(corpus), "--out", str(out2)])
    for name in ("manifest.parquet", "rejects.jsonl", "stats.json"):
        assert (out / name).read_bytes() == (out2 / name).read_bytes(), name


def test_reject_fraction_fails_but_missing_audio_does_not(ray_local, params, tmp_path):
    root = tmp_path / "bad"
    write_tone(root / "ok.wav", 0.2)
    for name in ("b1.wav", "b2.flac"):
        (root / name).write_bytes(b"not audio at all")
    write_meta(root, [{"id": "ok", "file": "ok.wav"}, {"id": "b1", "file": "b1.wav"},
                      {"id": "b2", "file": "b2.flac"}])
    out = tmp_path / "bad_out"
    with pytest.raises(SystemExit) as err:
        ingest.main(["--corpus", CORPUS, "--root", str(root), "--out", str(out)])
    assert "2 of 3 rows rejected" in str(err.value) and "max_reject_fraction" in str(err.value)
    assert len((out / "rejects.jsonl").read_text().splitlines()) == 2  # outputs are still written
    # the flag overrides params
    ingest.main(["--corpus", CORPUS, "--root", str(root), "--out", str(out), "--max-reject-fraction", "0.7"])

    # a corpus whose audio was mostly never downloaded is low coverage, not a failure
    sparse = tmp_path / "sparse"
    write_tone(sparse / "one.wav", 0.2)
    write_meta(sparse, [{"id": "one", "file": "one.wav"}] + [{"id": f"m{i}", "file": f"m{i}.wav"} for i in range(9)])
    result = ingest.main(["--corpus", CORPUS, "--root", str(sparse), "--out", str(tmp_path / "sparse_out")])
    assert result.stats["rows"] == 1 and result.stats["coverage"] == pytest.approx(0.1)
    assert result.stats["rejects"] == {"missing_audio": 9}


def test_missing_metadata_and_disabled(params, tmp_path):
    with pytest.raises(SystemExit, match="expected .*meta.jsonl"):
        ingest.main(["--corpus", CORPUS, "--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    out = tmp_path / "disabled"
    ingest.main(["--corpus", CORPUS, "--root", str(tmp_path / "nowhere"), "--out", str(out),
                 "--options", '{"enabled": false}'])
    assert read_manifest(out / "manifest.parquet") == []
    assert json.loads((out / "stats.json").read_text())["rows"] == 0


def test_resolve_window_rules():
    row = ManifestRow(key="k", corpus="c", split="train", audio_path="a.wav", source="s",
                      offset_s=None, duration_s=10.0, youtube_start_s=30.0)
    assert ingest.resolve_window(row, 120.0, 0.5) == (30.0, 10.0)   # whole video
    assert ingest.resolve_window(row, 39.6, 0.5) == (30.0, 9.6)     # whole video, a little short
    assert ingest.resolve_window(row, 10.0, 0.5) == (0.0, 10.0)     # the cut segment
    assert ingest.resolve_window(row, 8.0, 0.5) == (0.0, 8.0)       # a short cut segment
    row.offset_s, row.duration_s = 1.0, None
    assert ingest.resolve_window(row, 4.0, 0.5) == (1.0, 3.0)


def test_cli_list(capsys):
    ingest.main(["--list"])
    listed = capsys.readouterr().out.split()
    assert listed == corpus_names() and CORPUS in listed
    proc = subprocess.run([sys.executable, "-m", "pipeline.ingest", "--list"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.split()
    assert names, proc.stderr
    assert names == sorted(names) and CORPUS not in names  # a fresh process knows only the real adapters
    assert set(names) <= set(listed)


def test_repo_params_section_is_valid():
    """The project's params.yaml `ingest` section maps onto IngestConfig (no unknown keys)."""
    section = pipeline.common.load_params("ingest", Path(__file__).resolve().parents[2] / "params.yaml")
    config = ingest.IngestConfig.from_params(section)
    assert 0 <= config.max_reject_fraction <= 1 and config.probe_batch_size > 0


def test_user_corpus_names_its_adapter(ray_local, params, tmp_path, capsys):
    """`corpora.my_sounds: {adapter: folder, root: ...}`: the folder adapter lists the files, the
    rows carry the user's corpus name and key prefix."""
    root = tmp_path / "my_sounds"
    write_tone(root / "rain on a tin roof.wav", 0.3)
    (root / "rain on a tin roof.txt").write_text("Rain drumming on a tin roof\n", encoding="utf-8")
    write_tone(root / "sub" / "kettle.wav", 0.3)
    (root / "sub" / "kettle.txt").write_text("A kettle whistles\n", encoding="utf-8")
    out = tmp_path / "out"
    ingest.main(["--corpus", "my_sounds", "--root", str(root), "--out", str(out),
                 "--options", json.dumps({"adapter": "folder"})])
    rows = read_manifest(out / "manifest.parquet")
    assert {r["corpus"] for r in rows} == {"my_sounds"}
    assert all(r["key"].startswith("my_sounds-") for r in rows)
    assert sorted(r["caption"] for r in rows) == ["A kettle whistles", "Rain drumming on a tin roof"]
    assert capsys.readouterr().out.strip().startswith("my_sounds: 2 rows")
