"""Evaluation scripts: score each stage on a development corpus given by path."""
