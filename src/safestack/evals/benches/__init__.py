"""Benches, one module each, registered with metadata (see base.py)."""

from .base import BENCHES, BenchContext, BenchSpec, available, bench, bench_of, find_bench

__all__ = ["BENCHES", "BenchContext", "BenchSpec", "available", "bench", "bench_of", "find_bench"]
