"""The same training loop under Ray Train: 2 CPU workers, DDP over gloo."""
from __future__ import annotations

import torch
import yaml

from audiogen.codec.model import Codec
from audiogen.codec.train import main


def test_ray_train_two_workers(ray_local, synth_shards, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"codec": {
        "preset": "tiny", "segment_s": 0.25, "batch_size": 2, "valid_clips": 2, "valid_segment_s": 0.5,
        "checkpoint_every": 4, "valid_every": 4,
        "losses": {"disc_filters": 4, "disc_n_ffts": [256, 128]}}}))
    out = tmp_path / "codec"
    result = main(["--params", str(params), "--shards", str(synth_shards), "--out", str(out),
                   "--live-dir", str(tmp_path / "live"), "--steps", "4", "--num-workers", "2",
                   "--threads", "1", "--ray-storage", str(tmp_path / "ray")])
    assert result["step"] == 4 and "valid_mel_distance" in result
    assert result["ranks_in_sync"] is True  # DDP gradients + all-reduced codebook statistics
    state = torch.load(out / "state.pt", weights_only=True)
    assert state["step"] == 4
    assert len(state["rng"]) == 2 and len(state["positions"]) == 2  # one per rank
    # Each rank has its own seeded RNG (and reads its own slice of the shards, test_train.py).
    assert not torch.equal(state["rng"][0], state["rng"][1])
    assert all(p[0][3] == 8 for p in state["positions"])  # 4 steps × batch 2 per rank
    codec = Codec.from_pretrained(out)
    assert bool(codec.quantizer.layers[0].inited.item())
    assert codec.encode(torch.zeros(1, 1, 1600)).shape == (1, 2, 13)
    assert (tmp_path / "live" / "metrics.json").exists()
