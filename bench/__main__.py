"""``make bench``: run every benchmark in turn."""

from . import patchmatch, startup

BENCHMARKS = (startup, patchmatch)

if __name__ == "__main__":
    for benchmark in BENCHMARKS:
        benchmark.run()
