"""Benchmarks: run as `python -m bench.<name>` from the repository root; figures go to bench/RESULTS.md."""
