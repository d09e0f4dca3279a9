"""Datasets: strict IDX parsing, verified mirror downloads and versioned registration."""
