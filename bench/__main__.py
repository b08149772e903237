"""``make bench``: run every benchmark in turn."""

from . import deflicker, engine, painter, patchmatch, startup

BENCHMARKS = (startup, patchmatch, deflicker, engine, painter)

if __name__ == "__main__":
    for benchmark in BENCHMARKS:
        benchmark.run()
