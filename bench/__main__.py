"""``make bench``: run every benchmark in turn."""

from . import deflicker, patchmatch, startup

BENCHMARKS = (startup, patchmatch, deflicker)

if __name__ == "__main__":
    for benchmark in BENCHMARKS:
        benchmark.run()
