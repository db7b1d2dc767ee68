"""Benchmarks: each module is a command that prints JSON and writes benchmarks/results/<name>.json."""
