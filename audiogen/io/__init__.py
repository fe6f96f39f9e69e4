"""Shared primitives every room builds on: audio decoding and resampling (`audio`), the WebDataset
shard format (`shards`) and the checkpoint folder format (`checkpoint`). Imports nothing from audiogen."""
