"""``make bench``: run every benchmark in turn."""

from . import deflicker, engine, patchmatch, startup

BENCHMARKS = (startup, patchmatch, deflicker, engine)

if __name__ == "__main__":
    for benchmark in BENCHMARKS:
        benchmark.run()
