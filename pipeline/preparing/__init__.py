"""Helpers of the prepare stage (pipeline/prepare.py): the plan, one shard's work, speech measured in the audio."""
