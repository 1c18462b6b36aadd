"""Benchmarks (issue 16): OllamaBenchmarks, their results' SQL history, compare and export."""
