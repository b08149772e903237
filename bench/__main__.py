"""``make bench``: run every benchmark in turn."""

from . import deflicker, deflicker_rendered, engine, farm, painter, patchmatch, preview, scale, startup

BENCHMARKS = (startup, preview, patchmatch, deflicker, deflicker_rendered, engine, painter, farm, scale)

if __name__ == "__main__":
    for benchmark in BENCHMARKS:
        benchmark.run()
