"""Benchmarks of askdocs on the machine it runs on; see docs/benchmarks.md."""
