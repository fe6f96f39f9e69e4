"""Header probing: one file, a batch, and the Ray Data job (real local Ray, real files)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf

from pipeline.ingesting.probe import PROBE_SCHEMA, ProbeConfig, probe_batch, probe_file, probe_local, probe_paths


def write(path, seconds, sr, channels=1, fmt=None, subtype=None):
    data = np.zeros((int(seconds * sr), channels), dtype=np.float32)
    data[:, 0] = 0.2 * np.sin(np.arange(len(data)) / 7)
    with sf.SoundFile(path, "w", samplerate=sr, channels=channels, format=fmt or path.suffix[1:].upper(),
                      subtype=subtype) as f:
        for i in range(0, len(data), 4096):
            f.write(data[i:i + 4096])
    return str(path)


@pytest.fixture()
def files(tmp_path):
    good = {
        write(tmp_path / "a.wav", 0.25, 16000, subtype="PCM_24"): (16000, 1, 0.25, "WAV/PCM_24"),
        write(tmp_path / "b.flac", 0.5, 48000, 2): (48000, 2, 0.5, "FLAC/PCM_16"),
        write(tmp_path / "c.ogg", 0.4, 22050): (22050, 1, 0.4, "OGG/VORBIS"),
        write(tmp_path / "d.mp3", 0.3, 44100): (44100, 1, None, "MP3/MPEG_LAYER_III"),
    }
    (tmp_path / "bad.wav").write_bytes(b"\x00" * 100)
    (tmp_path / "v.MP4").write_bytes(b"\x00" * 100)
    bad = [str(tmp_path / "bad.wav"), str(tmp_path / "v.MP4"), str(tmp_path / "absent.flac")]
    return good, bad


def test_probe_file(files):
    good, bad = files
    for path, (sr, ch, dur, fmt) in good.items():
        r = probe_file(path)
        assert r["ok"] and (r["sample_rate"], r["channels"]) == (sr, ch)
        assert f"{r['format']}/{r['subtype']}" == fmt
        if dur is not None:  # MP3 frame counts include encoder padding
            assert r["frames"] == int(dur * sr) and r["duration_s"] == pytest.approx(dur)
    unreadable, video, absent = (probe_file(p) for p in bad)
    assert not unreadable["ok"] and not unreadable["video"] and "bad.wav" in unreadable["error"]
    assert video["video"] and not video["ok"] and "extract the audio" in video["error"]
    assert not absent["ok"] and absent["error"]


def test_probe_batch_schema(files):
    good, bad = files
    table = probe_batch(pa.table({"path": list(good) + bad}))
    assert table.schema == PROBE_SCHEMA and table.num_rows == len(good) + len(bad)
    assert table.column("ok").to_pylist() == [True] * len(good) + [False] * len(bad)


def test_probe_paths_on_ray(ray_local, files):
    good, bad = files
    paths = list(good) + bad
    local = probe_local(paths)
    # a batch size that does not divide the file count, and repeated paths probed once
    result = probe_paths(paths + paths[:2], ProbeConfig(batch_size=3, concurrency=2, progress=False))
    assert result == local
    assert probe_paths([], ProbeConfig()) == {}
