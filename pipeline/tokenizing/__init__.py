"""Helpers of the tokenize stage (pipeline/tokenize.py): its config, the Ray Data stages, the shard bookkeeping."""
