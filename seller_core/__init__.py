"""SELLER: sequence-aware explainable recommendation — the pipeline's logic, importable without Snakemake."""

__version__ = "0.1.0"
