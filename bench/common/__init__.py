"""Pieces the benchmark scripts share: the wagtail site they all run on, the venv and psql helpers."""
