"""Fixtures for the codec tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from ._synth import write_audio_shards


@pytest.fixture(scope="session")
def synth_shards(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("codec_shards")
    write_audio_shards(d, "train", 3, 12, 1.0, seed=1)
    write_audio_shards(d, "valid", 1, 6, 1.0, seed=2)
    return d
