"""The prepare stage end to end on real files and local Ray: formats, offsets, segmenting, every
reject reason, captions, byte-identical re-runs, per-corpus rebuilds, SIGKILL resume, and reading
the shards back with plain webdataset and Hugging Face datasets."""
from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiogen.io import audio
from audiogen.io.shards import hf_features, iter_shard, list_shards, read_index, sha256_file
from pipeline.manifest import write_manifest
from pipeline.prepare import prepare
from pipeline.preparing.plan import PrepareConfig

REPO = Path(__file__).resolve().parents[2]


def tone(freq, sr, seconds, channels=1, amp=0.3):
    t = np.arange(int(round(sr * seconds))) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return x if channels == 1 else np.stack([x * (0.5 + 0.5 * c / channels) for c in range(channels)], axis=1)


def write_chunked(path, x, sr, fmt, subtype):
    with sf.SoundFile(path, "w", samplerate=sr, channels=1 if x.ndim == 1 else x.shape[1], format=fmt,
                      subtype=subtype) as f:
        for i in range(0, len(x), 4096):
            f.write(x[i : i + 4096])


def row(key, corpus, split, path, caption, **kw):
    r = {"key": key, "corpus": corpus, "split": split, "audio_path": str(path), "offset_s": 0.0,
         "captions": [caption], "caption": caption, "source": f"{corpus}.csv:{key}"}
    r.update(kw)
    return r


def build_corpus(root: Path) -> dict[str, list[dict]]:
    """Real files in every format, plus one file per reject reason; returns manifests rows per split."""
    a = root / "audio"
    a.mkdir(parents=True)
    rows = []
    sf.write(a / "long.wav", tone(440, 44100, 12.5, channels=2), 44100, subtype="PCM_16")
    rows.append(row("alpha-long", "alpha", "train", a / "long.wav", "A Dog is barking - 1"))
    sf.write(a / "f24.flac", tone(523, 48000, 5.0), 48000, subtype="PCM_24")
    rows.append(row("alpha-f24", "alpha", "train", a / "f24.flac", "<b>Rain</b> on a roof"))
    sf.write(a / "w32.wav", tone(600, 32000, 3.0), 32000, subtype="PCM_32")
    rows.append(row("alpha-w32", "alpha", "train", a / "w32.wav", "Wind"))
    sf.write(a / "float6.wav", tone(700, 32000, 3.0, channels=6), 32000, subtype="FLOAT")
    rows.append(row("alpha-float6", "alpha", "train", a / "float6.wav", "Engine hum (technical note)"))
    sf.write(a / "a.aiff", tone(800, 22050, 4.0), 22050, subtype="PCM_16")
    rows.append(row("alpha-aiff", "alpha", "train", a / "a.aiff", "Bell rings"))
    write_chunked(a / "v.ogg", tone(900, 44100, 3.0, channels=2), 44100, "OGG", "VORBIS")
    rows.append(row("alpha-ogg", "alpha", "train", a / "v.ogg", "Birds chirping"))
    write_chunked(a / "o.opus", tone(1000, 48000, 3.0), 48000, "OGG", "OPUS")
    rows.append(row("alpha-opus", "alpha", "train", a / "o.opus", "Water drips"))
    write_chunked(a / "m.mp3", tone(1100, 44100, 3.0), 44100, "MP3", "MPEG_LAYER_III")
    rows.append(row("alpha-mp3", "alpha", "train", a / "m.mp3", "Door slams"))
    # AudioSet-style: a 10 s window at 20 s inside a 30 s "video"; the tone changes at 20 s
    video = np.concatenate([tone(300, 32000, 20.0), tone(1500, 32000, 10.0)])
    sf.write(a / "video.flac", video, 32000)
    rows.append(row("beta-yt", "beta", "valid", a / "video.flac", "dog, bark", offset_s=20.0, duration_s=10.0,
                    captions=[], labels=["Dog", "Bark"]))
    sf.write(a / "b2.wav", tone(250, 16000, 2.0), 16000)
    rows.append(row("beta-b2", "beta", "valid", a / "b2.wav", "Cat meows", captions=["Cat meows", "A cat mews"]))
    # one file per reject reason
    (a / "garbage.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    rows.append(row("alpha-garbage", "alpha", "train", a / "garbage.wav", "x"))
    sf.write(a / "empty.wav", np.zeros(0, np.float32), 16000)
    rows.append(row("alpha-empty", "alpha", "train", a / "empty.wav", "x"))
    nan = tone(440, 16000, 2.0)
    nan[1000] = np.nan
    sf.write(a / "nan.wav", nan, 16000, subtype="FLOAT")
    rows.append(row("alpha-nan", "alpha", "train", a / "nan.wav", "x"))
    sf.write(a / "silent.wav", np.zeros(32000, np.float32), 16000)
    rows.append(row("alpha-silent", "alpha", "train", a / "silent.wav", "x"))
    sf.write(a / "short.wav", tone(440, 16000, 0.4), 16000)
    rows.append(row("alpha-short", "alpha", "train", a / "short.wav", "x"))
    sf.write(a / "clip.wav", np.sign(tone(100, 16000, 2.0)), 16000)
    rows.append(row("alpha-clip", "alpha", "train", a / "clip.wav", "x"))
    for r in rows:  # what ingest's header probe adds; the plan sizes shards from it
        try:
            r["file_duration_s"] = sf.info(r["audio_path"]).duration
        except Exception:
            pass
    return {s: [r for r in rows if r["split"] == s] for s in ("train", "valid", "test")}


def write_manifests(root: Path, by_split: dict[str, list[dict]]) -> Path:
    for split, rows in by_split.items():
        write_manifest(rows, root / "manifests" / f"{split}.parquet")
    return root / "manifests"


def digest_dir(out: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(out.iterdir()) if p.is_file()}


CFG = dict(shard_mb=0.5, workers=2)


@pytest.fixture(scope="module")
def built(tmp_path_factory, ray_local):
    root = tmp_path_factory.mktemp("prep")
    by_split = build_corpus(root)
    manifests = write_manifests(root, by_split)
    stats = prepare(manifests, root / "out", PrepareConfig.from_dict(CFG), metrics=root / "metrics" / "stats.json")
    assert json.loads((root / "metrics" / "stats.json").read_text()) == stats
    return root, manifests, root / "out", stats, by_split


def all_clips(out: Path) -> dict[str, tuple[dict, bytes]]:
    return {k: (json.loads(m["json"]), m["flac"]) for p in list_shards(out) for k, m in iter_shard(p)}


def test_every_format_becomes_16khz_mono_clips_with_checksums(built):
    _, _, out, stats, _ = built
    clips = all_clips(out)
    expected = {"alpha-long-0": 10.0, "alpha-long-1": 2.5, "alpha-f24-0": 5.0, "alpha-w32-0": 3.0,
                "alpha-float6-0": 3.0, "alpha-aiff-0": 4.0, "alpha-ogg-0": 3.0, "alpha-opus-0": 3.0,
                "alpha-mp3-0": 3.0, "beta-yt-0": 10.0, "beta-b2-0": 2.0}
    assert set(clips) == set(expected)
    for key, (meta, flac) in clips.items():
        x, sr = audio.decode_bytes(flac)
        info = sf.info(io.BytesIO(flac))
        assert (sr, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert meta["key"] == key and meta["sample_rate"] == 16000 and meta["num_samples"] == len(x)
        assert abs(meta["duration_s"] - expected[key]) < 0.06, key
        pcm = audio.to_pcm16(x * 32768 / 32767)
        assert hashlib.sha256(pcm.astype("<i2").tobytes()).hexdigest() == meta["sha256"]
        assert -30 < meta["rms_dbfs"] < meta["peak_dbfs"] < 0
        assert meta["speech_s"] == 0.0 and meta["speech_audio"] is False  # tones are not speech
    assert clips["alpha-float6-0"][0]["source_channels"] == 6
    assert clips["alpha-long-1"][0]["offset_s"] == 10.0 and clips["alpha-long-1"][0]["segment"] == 1
    assert stats["clips"] == len(expected) and stats["rows"] == 16


def test_offset_window_inside_a_longer_file(built):
    meta, flac = all_clips(built[2])["beta-yt-0"]
    x, _ = audio.decode_bytes(flac)
    spec = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spec) * 16000 / len(x) - 1500) < 2  # the window's tone, not the file start's
    assert meta["offset_s"] == 20.0 and meta["source_key"] == "beta-yt" and meta["labels"] == ["Dog", "Bark"]


def test_each_reject_reason_is_recorded(built):
    _, _, out, stats, _ = built
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    got = {r["key"]: r["reason"] for r in rejects}
    assert got == {"alpha-garbage": "undecodable", "alpha-empty": "empty", "alpha-nan-0": "nan",
                   "alpha-silent-0": "silence", "alpha-short": "too_short", "alpha-clip-0": "clipping"}
    assert all(r["stage"] == "prepare" and r["source"] and r["detail"] for r in rejects)
    assert stats["rejects"] == {"clipping": 1, "empty": 1, "nan": 1, "silence": 1, "too_short": 1, "undecodable": 1}
    assert stats["rows_without_clips"] == 6


def test_captions_normalised_and_raw_kept(built):
    clips = all_clips(built[2])
    assert clips["alpha-long-0"][0]["caption"] == "a dog is barking"
    assert clips["alpha-long-0"][0]["captions"] == ["A Dog is barking - 1"]
    assert clips["alpha-f24-0"][0]["caption"] == "rain on a roof"
    assert clips["alpha-float6-0"][0]["caption"] == "engine hum"
    assert clips["beta-b2-0"][0]["captions_norm"] == ["cat meows", "a cat mews"]
    assert clips["beta-yt-0"][0]["caption"] == "dog, bark"


def test_shards_per_split_and_corpus_with_index(built):
    _, _, out, stats, _ = built
    names = [p.name for p in list_shards(out)]
    assert len(list_shards(out, split="train", corpus="alpha")) >= 2  # 0.5 MB of PCM ≈ 15.6 s per shard
    assert [p.name for p in list_shards(out, split="valid", corpus="beta")] == ["valid-beta-000000.tar"]
    index = read_index(out)
    assert [s["name"] for s in index["shards"]] == names
    for s in index["shards"]:
        path = out / s["name"]
        assert s["sha256"] == sha256_file(path) and s["bytes"] == path.stat().st_size
        assert s["clips"] == sum(1 for _ in iter_shard(path))
    assert index["params"]["shard_mb"] == 0.5 and "source_sha256" in index["code_version"]
    assert stats["shards"] == len(names) and not list(out.glob("*.tmp"))


def test_rerun_skips_complete_shards_and_force_gives_identical_bytes(built, ray_local):
    _, manifests, out, _, _ = built
    before = digest_dir(out)
    mtimes = {p.name: p.stat().st_mtime_ns for p in list_shards(out)}
    prepare(manifests, out, PrepareConfig.from_dict(CFG))
    assert {p.name: p.stat().st_mtime_ns for p in list_shards(out)} == mtimes  # skipped, not rewritten
    prepare(manifests, out, PrepareConfig.from_dict(CFG), force=True)
    assert {p.name: p.stat().st_mtime_ns for p in list_shards(out)} != mtimes
    assert digest_dir(out) == before


def test_corrupt_shard_is_rebuilt(built, ray_local):
    _, manifests, out, _, _ = built
    before = digest_dir(out)
    victim = list_shards(out)[0]
    victim.write_bytes(victim.read_bytes()[:-512] + b"\x01" * 512)
    prepare(manifests, out, PrepareConfig.from_dict(CFG))
    assert digest_dir(out) == before


def test_reingesting_one_corpus_rewrites_only_its_shards(built, tmp_path, ray_local):
    root, _, out, _, by_split = built
    changed = {s: list(rows) for s, rows in by_split.items()}
    sf.write(tmp_path / "new.wav", tone(333, 16000, 2.0), 16000)
    changed["valid"].append(row("beta-new", "beta", "valid", tmp_path / "new.wav", "new"))
    manifests = write_manifests(tmp_path, changed)
    alpha = {p.name: p.stat().st_mtime_ns for p in list_shards(out, corpus="alpha")}
    beta = {p.name: p.stat().st_mtime_ns for p in list_shards(out, corpus="beta")}
    prepare(manifests, out, PrepareConfig.from_dict(CFG))
    assert {p.name: p.stat().st_mtime_ns for p in list_shards(out, corpus="alpha")} == alpha
    assert {p.name: p.stat().st_mtime_ns for p in list_shards(out, corpus="beta")} != beta
    assert "beta-new-0" in all_clips(out)
    prepare(root / "manifests", out, PrepareConfig.from_dict(CFG))  # back to the fixture's state
    assert "beta-new-0" not in all_clips(out)


def test_webdataset_and_hf_datasets_read_every_sample(built, tmp_path):
    import datasets
    import webdataset as wds

    out = built[2]
    keys = set(all_clips(out))
    urls = [str(p) for p in list_shards(out)]
    got = list(wds.WebDataset(urls, shardshuffle=False).decode())
    assert {g["__key__"] for g in got} == keys and all(isinstance(g["json"], dict) for g in got)
    ds = datasets.load_dataset("webdataset", data_files={"train": urls}, split="train",
                               features=hf_features(), cache_dir=str(tmp_path / "hf"))
    assert {r["__key__"] for r in ds} == keys
    first = ds[0]
    assert audio.decode_bytes(first["flac"])[1] == 16000 and first["json"]["key"] == first["__key__"]


def test_too_many_rejects_fail_the_stage(built, tmp_path, ray_local):
    _, manifests, _, _, _ = built
    with pytest.raises(SystemExit, match="max_reject_fraction"):
        prepare(manifests, tmp_path / "out", PrepareConfig.from_dict({**CFG, "max_reject_fraction": 0.2}))
    assert (tmp_path / "out" / "rejects.jsonl").exists()  # the reasons are still written


def test_config_from_params_validates():
    with pytest.raises(ValueError, match="unknown"):
        PrepareConfig.from_dict({"segment": 5})
    with pytest.raises(ValueError, match="resampler"):
        PrepareConfig.from_dict({"resampler": "sinc"})
    cfg = PrepareConfig.from_dict({"captions": {"paper_style": True}, "segment_s": 5})
    assert cfg.captions.paper_style and cfg.segment_s == 5 and cfg.sample_rate == 16000


# --- SIGKILL half way -------------------------------------------------------------------------------

KILL_SHARDS = 12


def kill_corpus(root: Path) -> Path:
    rows = []
    for i in range(KILL_SHARDS):
        path = root / f"k{i}.wav"
        sf.write(path, tone(200 + 50 * i, 44100, 15.0, channels=2), 44100, subtype="PCM_16")
        rows.append(row(f"kill-k{i}", "kill", "train", path, f"tone {i}", file_duration_s=15.0))
    return write_manifests(root, {"train": rows})


def check_complete_tars(out: Path, reference: dict[str, str]) -> int:
    """Every `*.tar` under a final name must be the finished shard (same bytes as the reference)."""
    seen = 0
    for p in out.glob("*.tar"):
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            continue
        assert hashlib.sha256(data).hexdigest() == reference[p.name], f"partial or wrong {p.name}"
        with tarfile.open(p) as t:
            t.getmembers()
        seen += 1
    return seen


def test_sigkill_half_way_then_rerun_gives_the_same_bytes(tmp_path, ray_local):
    manifests = kill_corpus(tmp_path)
    params = {"shard_mb": 0.5, "workers": 2}  # 0.5 MB of PCM ≈ 15.6 s: one 15 s row per shard
    prepare(manifests, tmp_path / "ref", PrepareConfig.from_dict(params))
    reference = digest_dir(tmp_path / "ref")
    assert len([n for n in reference if n.endswith(".tar")]) == KILL_SHARDS

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pipeline.prepare", "--manifests", str(manifests), "--out", str(out),
           "--shard-mb", "0.5", "--workers", "2"]
    env = {**os.environ, "RAY_ADDRESS": ray_local.get_runtime_context().gcs_address, "AUDIOGEN_PARAMS": "/nonexistent"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if check_complete_tars(out, reference) >= 1:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"run finished before it could be killed: {err[-2000:]}"
    written = check_complete_tars(out, reference)
    assert 1 <= written < KILL_SHARDS and not (out / "shards.json").exists()

    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
    check_complete_tars(out, reference)
    assert digest_dir(out) == reference and not list(out.rglob("*.tmp"))


# --- speech measured in the audio ---------------------------------------------------------------

def speech_corpus(root: Path) -> dict[str, list[dict]]:
    """Rows whose audio and labels agree or disagree about speech, with each `speech_by_audio` value
    the filter writes (None: a manifest the filter did not write)."""
    from pipeline.demo.sounds import Layer, render
    from pipeline.demo.writer import rng_for

    def write(name, layers, seconds):
        path = root / f"{name}.wav"
        sf.write(path, render(layers, rng_for(0, name), 16000, seconds), 16000)
        return path

    voice, beeps = (Layer("speech_male"),), (Layer("beeps"),)
    hidden = (Layer("rain"), Layer("speech_female", start=0.3, end=0.8))
    late = (Layer("rain"), Layer("speech_male", start=0.7, end=1.0))  # speech in the second clip only
    spec = [  # name, split, layers, seconds, label reason, speech_by_audio
        ("talk", "train", voice, 6.0, "caption:talks", True),        # labels and audio agree
        ("hidden", "train", hidden, 8.0, None, True),                # only the audio knows
        ("dialog", "train", beeps, 4.0, "caption:dialog", True),     # only the label says so
        ("decided", "train", voice, 4.0, None, False),               # the filter already decided: keep
        ("old", "valid", voice, 4.0, None, None),                    # no column: the audio decides
        ("late", "train", late, 15.0, None, True),
        ("eval", "test", voice, 4.0, "caption:speaks", False),       # the test split is never dropped
    ]
    rows = []
    for name, split, layers, seconds, reason, by_audio in spec:
        r = row(f"sp-{name}", "sp", split, write(name, layers, seconds), f"{name} sound", file_duration_s=seconds,
                is_speech=reason is not None, speech_reason=reason)
        if by_audio is not None:
            r["speech_by_audio"] = by_audio
        rows.append(r)
    return {s: [r for r in rows if r["split"] == s] for s in ("train", "valid", "test")}


def test_speech_in_the_audio_is_measured_recorded_and_dropped_where_the_audio_decides(tmp_path, ray_local):
    manifests = write_manifests(tmp_path, speech_corpus(tmp_path))
    cfg = PrepareConfig.from_dict({**CFG, "max_reject_fraction": 0.1})  # speech drops are not failures
    stats = prepare(manifests, tmp_path / "out", cfg)
    clips = all_clips(tmp_path / "out")
    rejects = {r["key"]: r for r in map(json.loads, (tmp_path / "out" / "rejects.jsonl").read_text().splitlines())}
    assert set(rejects) == {"sp-talk-0", "sp-hidden-0", "sp-old-0", "sp-late-1"}
    for r in rejects.values():
        assert r["reason"] == "speech_audio" and r["speech_s"] > 1.0 and "max_speech_fraction 20%" in r["detail"]
    assert "labels/captions: caption:talks" in rejects["sp-talk-0"]["detail"]
    assert set(clips) == {"sp-dialog-0", "sp-decided-0", "sp-late-0", "sp-eval-0"}
    meta = {k: m for k, (m, _) in clips.items()}
    assert meta["sp-dialog-0"]["speech_s"] == 0.0 and meta["sp-dialog-0"]["speech_audio"] is False
    assert meta["sp-late-0"]["speech_fraction"] < 0.2
    for key in ("sp-decided-0", "sp-eval-0"):  # kept, yet measured and flagged
        m = meta[key]
        assert m["speech_audio"] is True and m["speech_fraction"] > 0.5 and m["speech_segments"]
        assert abs(sum(b - a for a, b in m["speech_segments"]) - m["speech_s"]) < 0.01
    assert meta["sp-eval-0"]["is_speech"] is True and meta["sp-eval-0"]["speech_reason"] == "caption:speaks"

    assert stats["rejects"] == {"speech_audio": 4} and stats["rows_without_clips"] == 0
    speech = stats["speech"]
    assert stats["rows_dropped_for_speech"] == speech["rows_dropped"] == 3  # talk, hidden, old (late kept clip 0)
    assert speech["measured_clips"] == 8 and speech["dropped_clips"] == 4 and speech["speech_clips"] == 6
    by_mode = {m: d["clips"] for m, d in speech["by_mode"].items()}
    # train/valid clips: label hits talk, dialog; audio hits talk, hidden, decided, old, late-1
    assert by_mode == {"labels": 2, "audio": 5, "either": 6, "confirm": 1, "off": 0}
    assert speech["by_split_corpus"]["test/sp"]["speech_clips"] == 1
    assert speech["by_split_corpus"]["train/sp"]["dropped_clips"] == 3
    assert speech["speech_hours"] > 0 and "speech_audio" in json.loads((tmp_path / "out" / "shards.json").read_text())["params"]
    from pipeline.preparing.speech import summary_line
    assert "dropped 4 clips" in summary_line(speech) and "confirm 1" in summary_line(speech)


def test_speech_flag_off_and_measure_needed(tmp_path):
    from pipeline.preparing.shard import process_rows

    by_split = speech_corpus(tmp_path)
    rows = [r for s in ("train", "valid", "test") for r in by_split[s]]

    def run(**kw):
        out = list(process_rows(rows, PrepareConfig.from_dict(kw)))
        clips = {k: m for _, kept, _, _ in out for k, _, m in kept}
        return clips, [r for _, _, rejects, _ in out for r in rejects]

    flagged, rejects = run(speech_audio="flag")
    assert not rejects and len(flagged) == 8
    assert {k for k, m in flagged.items() if m["speech_audio"]} == {
        "sp-talk-0", "sp-hidden-0", "sp-decided-0", "sp-old-0", "sp-late-1", "sp-eval-0"}
    off, _ = run(speech_audio="off")
    assert all(m["speech_s"] is None and m["speech_audio"] is None for m in off.values()) and len(off) == 8
    needed, rejects = run(speech_measure="needed")
    assert {r["key"] for r in rejects} == {"sp-talk-0", "sp-hidden-0", "sp-old-0", "sp-late-1"}
    assert needed["sp-decided-0"]["speech_s"] is None and needed["sp-eval-0"]["speech_s"] is None
    assert needed["sp-dialog-0"]["speech_s"] == 0.0
    # the audio bytes do not depend on the speech settings
    assert {k: m["sha256"] for k, m in off.items() if k in needed} == {k: m["sha256"] for k, m in needed.items()}


def test_speech_config_from_params():
    cfg = PrepareConfig.from_dict({"speech_audio": False, "vad": {"threshold": 0.6}})  # YAML's bare `off`
    assert cfg.speech_audio == "off" and cfg.vad.threshold == 0.6
    assert "vad" not in cfg.output_params()  # not measured: detector settings cannot change the shards
    with pytest.raises(ValueError, match="speech_audio"):
        PrepareConfig.from_dict({"speech_audio": "maybe"})
    with pytest.raises(ValueError, match="max_speech_fraction"):
        PrepareConfig.from_dict({"max_speech_fraction": 1.5})
    with pytest.raises(ValueError, match="prepare.vad: unknown"):
        PrepareConfig.from_dict({"vad": {"thresh": 0.6}})
    on = PrepareConfig.from_dict({"vad": {"device": "cuda"}}).output_params()
    assert on["vad"]["threshold"] == 0.5 and "device" not in on["vad"]  # where it runs changes nothing
