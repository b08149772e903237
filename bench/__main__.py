"""``make bench``: run every benchmark in turn."""

from . import deflicker, deflicker_rendered, engine, farm, footage, painter, patchmatch, preview, scale, startup

BENCHMARKS = (startup, preview, patchmatch, deflicker, deflicker_rendered, footage, engine, painter, farm, scale)

if __name__ == "__main__":
    for benchmark in BENCHMARKS:
        benchmark.run()
