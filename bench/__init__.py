"""Benchmark (`python -m bench`, `make bench`) and load test (`python -m bench.load`, `make load`) drivers."""
