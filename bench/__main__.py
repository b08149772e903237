"""``make bench``: run every benchmark in turn."""

from . import startup

BENCHMARKS = (startup,)

if __name__ == "__main__":
    for benchmark in BENCHMARKS:
        benchmark.run()
