"""The tokenize Ray job (pipeline/tokenize.py): real audio shards written with audiogen.io.shards, a
tiny random codec saved with save_pretrained, local Ray (the session fixture), and one run under a
real `ray start --head` + `ray job submit`."""
from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from audiogen.io.audio import encode_flac, to_pcm16
from audiogen.io.shards import INDEX_NAME, ShardWriter, iter_shard, list_shards, read_index, sha256_file
from pipeline.tokenize import tokenize
from pipeline.tokenizing.config import TokenizeConfig
from pipeline.tokenizing.stages import npy_to_codes

REPO = Path(__file__).resolve().parents[2]
SR = 16000
# (shard name, clip lengths in samples; None = a broken FLAC member). Lengths straddle the hop (128
# for `tiny`) so batches mix clips whose padding differs.
SHARDS = {
    "train-demo-000000.tar": [16000, 9001, 12800, 4321],
    "train-demo-000001.tar": [7777, None, 16000],
    "valid-demo-000000.tar": [5000, 11111],
}
CFG = dict(batch_size=3, concurrency=2, num_cpus_per_actor=0.5, decode_num_cpus=0.5, max_reject_fraction=0.5)


def write_audio_shards(directory: Path, seed: int = 0, shards: dict[str, list] | None = None) -> dict[str, np.ndarray]:
    """Audio shards as the prepare stage writes them (FLAC PCM_16 + json, shards.json); returns
    key → the float32 clip as decoded from its FLAC (what the codec sees)."""
    rng = np.random.default_rng(seed)
    clips, index = {}, []
    for name, lengths in (shards or SHARDS).items():
        split, corpus, _ = name[: -len(".tar")].split("-")
        seconds = 0.0
        with ShardWriter(directory / name) as w:
            for i, n in enumerate(lengths):
                key = f"{corpus}-{name[-10:-4]}-{i}"
                meta = {"key": key, "corpus": corpus, "split": split, "caption": f"clip {i} of {name}",
                        "sample_rate": SR, "num_samples": n or 0}
                if n is None:
                    w.write(key, {"flac": b"fLaC not really", "json": json.dumps(meta).encode()})
                    continue
                t = np.arange(n) / SR
                x = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t) + 0.1 * rng.standard_normal(n)
                pcm = to_pcm16(x.astype(np.float32))
                w.write(key, {"flac": encode_flac(pcm, SR), "json": json.dumps(meta).encode()})
                clips[key] = pcm.astype(np.float32) / 32768.0
                seconds += n / SR
        index.append({"name": name, "split": split, "corpus": corpus, "clips": len(lengths),
                      "seconds": seconds, "bytes": (directory / name).stat().st_size, "sha256": w.sha256})
    (directory / INDEX_NAME).write_text(json.dumps({"shards": index}, indent=1))
    return clips


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny random codec checkpoint and three audio shards (one with a broken clip)."""
    import torch

    from audiogen.codec import Codec, preset

    root = tmp_path_factory.mktemp("tok")
    torch.manual_seed(0)
    codec = Codec(preset("tiny")).eval()
    codec.save_pretrained(root / "codec")
    (root / "audio").mkdir()
    clips = write_audio_shards(root / "audio")
    return root, clips


def assert_codes_match_in_process(out: Path, root: Path) -> int:
    """Every token shard in `out` has the audio shard's name and keys (minus the broken clip) and,
    per clip, exactly the codes an in-process `encode` of that clip alone gives; returns the clips."""
    import torch

    from audiogen.codec import Codec

    codec = Codec.from_pretrained(root / "codec")
    assert [p.name for p in list_shards(out)] == [p.name for p in list_shards(root / "audio")]
    n_clips = 0
    for audio_shard in list_shards(root / "audio"):
        audio = _decoded_skipping_broken(audio_shard)
        tokens = list(iter_shard(out / audio_shard.name))
        assert [k for k, _ in tokens] == [k for k, _ in iter_shard(audio_shard) if k in audio]
        for key, members in tokens:
            codes = npy_to_codes(members["codes.npy"])
            clip = torch.from_numpy(audio[key])
            alone = codec.encode(clip[None, None])[0].numpy()  # this clip alone, no batch, no padding
            assert codes.dtype == np.int16
            assert codes.shape == (codec.num_codebooks, math.ceil(len(clip) / codec.hop_length))
            np.testing.assert_array_equal(codes, alone)
            meta = json.loads(members["json"])
            assert meta["caption"].startswith("clip ") and meta["num_frames"] == codes.shape[1]
            assert meta["frame_rate"] == codec.frame_rate and meta["num_codebooks"] == codec.num_codebooks
            n_clips += 1
    index = read_index(out)
    assert index["codec_sha256"] == sha256_file(root / "codec" / "model.safetensors")
    assert index["frame_rate"] == codec.frame_rate and index["num_codebooks"] == codec.num_codebooks
    for entry in index["shards"]:
        assert entry["sha256"] == sha256_file(out / entry["name"])
        assert entry["clips"] == len(list(iter_shard(out / entry["name"])))
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["key"], r["reason"], r["source"]) for r in rejects] == [("demo-000001-1", "decode", "train-demo-000001.tar")]
    return n_clips


@pytest.fixture(scope="module")
def first_run(ray_local, data):
    """One run of the job (two actors, batches of 3) over the fixture shards: (out dir, stats)."""
    root, _ = data
    return root / "tokens", tokenize(root / "codec", root / "audio", root / "tokens", TokenizeConfig.from_dict(CFG))


def test_codes_equal_in_process_encode(data, first_run):
    root, _ = data
    out, stats = first_run
    n_clips = assert_codes_match_in_process(out, root)
    assert stats["clips"] == n_clips == 8 and stats["rejects"] == {"decode": 1}


def _decoded_skipping_broken(path: Path) -> dict[str, np.ndarray]:
    """key → float32 clip for every clip of an audio shard that decodes."""
    from audiogen.io.shards import decode_audio_sample

    out = {}
    for k, m in iter_shard(path):
        try:
            out[k] = decode_audio_sample(str(path), k, m).audio
        except Exception:
            pass
    return out


def _tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_deterministic_and_resumable(data, first_run):
    root, _ = data
    cfg = TokenizeConfig.from_dict({**CFG, "batch_size": 2, "concurrency": 1})  # other batching, same bytes
    a, b = first_run[0], root / "det_b"
    tokenize(root / "codec", root / "audio", b, cfg)
    assert _tree(a) == _tree(b)

    # Resume: drop one shard, leave a stray temporary; complete shards are not rewritten.
    kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in list_shards(b)}
    (b / "valid-demo-000000.tar").unlink()
    (b / "train-demo-000000.tar.123.tmp").write_bytes(b"partial")
    del kept["valid-demo-000000.tar"]
    tokenize(root / "codec", root / "audio", b, cfg)
    assert {n: ((b / n).stat().st_ino, (b / n).stat().st_mtime_ns) for n in kept} == kept
    assert _tree(a) == _tree(b)  # rebuilt shard identical, temporary gone


def test_new_codec_reencodes(data, first_run, tmp_path):
    """A different checkpoint (other sha256) makes every shard stale."""
    import torch

    from audiogen.codec import Codec, preset

    root, _ = data
    out = tmp_path / "tokens"
    shutil.copytree(first_run[0], out)
    torch.manual_seed(1)
    Codec(preset("tiny")).save_pretrained(tmp_path / "codec2")
    tokenize(tmp_path / "codec2", root / "audio", out, TokenizeConfig.from_dict(CFG))
    sha2 = sha256_file(tmp_path / "codec2" / "model.safetensors")
    assert read_index(out)["codec_sha256"] == sha2
    for p in list_shards(out):
        assert all(json.loads(m["json"])["codec_sha256"] == sha2 for _, m in iter_shard(p))


def test_encoder_loads_shipped_checkpoint(data, tmp_path):
    """Actors on a node without the checkpoint on disk rebuild it from the bytes the driver ships;
    a local copy is used only when its sha256 matches."""
    from pipeline.tokenizing.stages import CodecEncoder, decode_shard

    root, _ = data
    blobs = {n: (root / "codec" / n).read_bytes() for n in ("config.json", "model.safetensors")}
    sha = sha256_file(root / "codec" / "model.safetensors")
    rows = decode_shard({"path": str(root / "audio" / "train-demo-000000.tar"), "name": "x"}, SR)
    batch = {k: np.array([r[k] for r in rows] if k != "audio" else [r["audio"] for r in rows] + [None], dtype=object)
             for k in rows[0]}
    batch["audio"] = batch["audio"][:-1]  # ragged object column, as Ray Data hands it over
    shipped = CodecEncoder(blobs, device="cpu", local_dir=str(tmp_path / "missing"), sha256=sha)(batch)
    local = CodecEncoder(str(root / "codec"), device="cpu")(batch)
    import torch

    from audiogen.codec import Codec, preset

    torch.manual_seed(5)
    Codec(preset("tiny")).save_pretrained(tmp_path / "stale")  # another checkpoint at the "same path"
    stale = CodecEncoder(str(tmp_path / "stale"), device="cpu")(batch)
    not_stale = CodecEncoder(blobs, device="cpu", local_dir=str(tmp_path / "stale"), sha256=sha)(batch)
    assert "audio" not in shipped and list(shipped["codes"]) == list(local["codes"]) == list(not_stale["codes"])
    assert list(stale["codes"]) != list(local["codes"])
    assert list(shipped["frames"]) == [math.ceil(r["num_samples"] / 128) for r in rows]


@pytest.mark.parametrize("how", [["pipeline/tokenize.py"], ["-m", "pipeline.tokenize"]])
def test_cli_entry_points(how):
    """Both entry points start (the file form must not shadow the stdlib `tokenize`) and read params."""
    r = subprocess.run([sys.executable, *how, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--num-gpus-per-actor" in r.stdout and "--codec" in r.stdout


# --- a real `ray start --head` + `ray job submit` ---------------------------------------------------

def _free_ports(n: int) -> list[int]:
    """`n` distinct free ports: every socket stays bound until all are chosen, so the OS cannot
    hand the same port out twice (a one-at-a-time helper can, and Ray then refuses to start)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _stop_head(proc: subprocess.Popen, temp: Path) -> None:
    import signal

    for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=grace)
            break
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
    _kill_leftovers(str(temp))
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def ray_head():
    """A separate Ray head (own ports and temp dir, so the session's `ray_local` is untouched) with
    the job server; stopped by killing its own process group (`ray stop` would stop every Ray on
    the machine, other people's included). A start that loses a port race to another process is
    retried with fresh ports."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    flags = ("--ray-client-server-port", "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
             "--runtime-env-agent-port", "--metrics-export-port")
    for attempt in range(3):
        temp = Path(f"/tmp/rt_{uuid.uuid4().hex[:8]}")  # short: Ray's socket paths have a length limit
        port, dash, *others = _free_ports(2 + len(flags))
        cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--num-cpus", "2",
               "--port", str(port), "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
               "--dashboard-port", str(dash), "--temp-dir", str(temp), "--object-store-memory", str(200 * 1024**2),
               *[arg for flag, p in zip(flags, others) for arg in (flag, str(p))]]
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        url = f"http://127.0.0.1:{dash}"
        try:
            _wait_for_job_server(url, proc)
            break
        except RuntimeError:
            _stop_head(proc, temp)
            if attempt == 2:
                raise
    try:
        yield proc, url, env
    finally:
        _stop_head(proc, temp)


def _kill_leftovers(token: str) -> None:
    """Ray processes of *this* head that left the process group (their command lines name its
    unique temp dir); nothing else is touched."""
    import psutil

    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(token in part for part in (p.info["cmdline"] or [])):
                p.kill()
        except psutil.Error:
            pass


def _wait_for_job_server(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited {proc.returncode}: {proc.stdout.read().decode(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/api/version", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"the Ray job server at {url} did not come up in {timeout} s")


def test_ray_job_submit(ray_head, data, tmp_path):
    """`ray job submit --working-dir . -- python pipeline/tokenize.py ...` against `ray start --head`
    writes the codes an in-process encode gives."""
    proc, url, env = ray_head
    root, _ = data
    _wait_for_job_server(url, proc)
    out = tmp_path / "tokens"
    entry = ["python", "pipeline/tokenize.py", "--codec", str(root / "codec"), "--shards", str(root / "audio"),
             "--out", str(out), "--batch-size", "3", "--concurrency", "1", "--max-reject-fraction", "0.5"]
    r = subprocess.run([str(Path(sys.executable).parent / "ray"), "job", "submit", "--address", url,
                        "--working-dir", ".", "--", *entry], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "succeeded" in r.stdout.lower()
    assert assert_codes_match_in_process(out, root) == 8


# --- the released AudioGen's codec (converted from audiocraft; non-causal: it looks ahead) ----------
AUDIOCRAFT_FIXTURES = REPO / "tests" / "fixtures" / "audiocraft"
# Equal lengths (batched together), odd lengths (not a multiple of the 320-sample hop), a clip
# shorter than one frame; batches of 4 mix them.
SFX_SHARDS = {
    "train-sfx-000000.tar": [16000, 8000, 16000, 16123, 8000, 16000],
    "train-sfx-000001.tar": [5000, 16000, 16123, 211],
    "valid-sfx-000002.tar": [8000, 12345],  # keys are corpus-number-index: numbers differ across splits
}


@pytest.fixture(scope="module")
def released_codec_data(tmp_path_factory):
    """The fixture's tiny audiocraft EnCodec converted to a checkpoint, and real audio shards."""
    from audiogen.convert.codec import codec_from_audiocraft

    root = tmp_path_factory.mktemp("tok_audiocraft")
    codec_from_audiocraft(AUDIOCRAFT_FIXTURES / "compression_state_dict.bin", root / "codec")
    (root / "audio").mkdir()
    return root, write_audio_shards(root / "audio", seed=3, shards=SFX_SHARDS)


def test_released_codec_tokens_equal_one_clip_encoding(ray_local, released_codec_data):
    """With the converted codec the stage writes 4 × K token shards whose codes are each clip's
    one-clip encoding (audiocraft's tokens), and batching (4 clips, two actors; or 1 clip) never
    changes a byte."""
    import torch

    from audiogen.codec import Codec

    root, clips = released_codec_data
    codec = Codec.from_pretrained(root / "codec")
    assert codec.config.looks_ahead and codec.frame_rate == 50 and codec.num_codebooks == 4
    cfg = {**CFG, "batch_size": 4, "concurrency": 2}
    stats = tokenize(root / "codec", root / "audio", root / "tokens", TokenizeConfig.from_dict(cfg))
    assert stats["clips"] == len(clips) == 12 and stats["rejects"] == {}
    padded_differs = 0
    for shard in list_shards(root / "tokens"):
        for key, members in iter_shard(shard):
            codes = npy_to_codes(members["codes.npy"])
            clip = torch.from_numpy(clips[key])
            alone = codec.encode(clip[None, None])[0].numpy()
            assert codes.shape == (4, math.ceil(len(clip) / 320)) and codes.dtype == np.int16
            np.testing.assert_array_equal(codes, alone)
            meta = json.loads(members["json"])
            assert meta["frame_rate"] == 50 and meta["num_codebooks"] == 4 and meta["num_frames"] == codes.shape[1]
            # What padded batching (right for a causal codec) would have written instead:
            padded = torch.nn.functional.pad(clip, (0, 16123 - len(clip)))[None, None]
            padded_differs += not np.array_equal(codec.encode(padded)[0, :, : codes.shape[1]].numpy(), alone)
    assert padded_differs >= 3  # the test can fail: padding does change codes of this codec
    index = read_index(root / "tokens")
    assert index["num_codebooks"] == 4 and index["frame_rate"] == 50
    assert index["codec"]["config"]["causal"] is False

    one = TokenizeConfig.from_dict({**CFG, "batch_size": 1, "concurrency": 1})
    tokenize(root / "codec", root / "audio", root / "tokens_b1", one)
    assert _tree(root / "tokens") == _tree(root / "tokens_b1")


def test_gpu_actors_when_the_cluster_has_gpus():
    """`num_gpus_per_actor: auto` reserves a GPU per encoder actor when Ray reports GPUs (shared
    when there are more actors than GPUs) and none otherwise; a number is taken as given."""
    auto = TokenizeConfig.from_dict({"concurrency": 2})
    assert auto.num_gpus_per_actor == "auto"
    assert auto.gpus_per_actor(0) == 0.0 and auto.actor_device(auto.gpus_per_actor(0)) == "cpu"
    assert auto.gpus_per_actor(4) == 1.0 and auto.actor_device(1.0) == "auto"
    assert auto.gpus_per_actor(1) == 0.5
    fixed = TokenizeConfig.from_dict({"num_gpus_per_actor": "0.25"})
    assert fixed.gpus_per_actor(8) == 0.25 and fixed.gpus_per_actor(0) == 0.25
    assert TokenizeConfig.from_dict({"num_gpus_per_actor": 0}).gpus_per_actor(8) == 0.0
    with pytest.raises(ValueError, match="num_gpus_per_actor"):
        TokenizeConfig.from_dict({"num_gpus_per_actor": "many"})
    with pytest.raises(ValueError, match="num_gpus_per_actor"):
        TokenizeConfig.from_dict({"num_gpus_per_actor": -1})
