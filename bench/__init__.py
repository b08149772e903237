"""Benchmarks: each prints a table and writes JSON under build/bench/ (``make bench``)."""
