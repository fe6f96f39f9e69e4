"""Helpers of the filter stage (pipeline/filter.py): speech rules, duplicates, leakage, the AudioSet ontology."""
