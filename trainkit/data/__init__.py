"""Datasets: strict IDX parsing, verified mirror downloads and versioned registration."""

__all__: list[str] = []   # internal; dataset formats are an extension point: data/formats.py (docs: Architecture)
