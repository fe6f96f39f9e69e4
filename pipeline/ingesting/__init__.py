"""Helpers of the ingest stage (pipeline/ingest.py): header probing on Ray Data."""
