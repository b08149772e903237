"""Shared output of the benchmarks: a printed table and a JSON file."""

import json
import platform
import statistics
import time
from pathlib import Path

OUTPUT_DIR = Path(__file__).resolve().parent.parent / "build" / "bench"


def median_seconds(run, repeats):
    """Median wall time of ``run()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def write_report(name, rows):
    """Print ``rows`` (a list of dicts with the same keys) as a table and save them as JSON."""
    columns = list(rows[0])
    cells = [[_format(row[column]) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    print(f"\n{name} — {platform.node()} ({platform.processor() or platform.machine()})")
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths)))
    for line in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)))
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUTPUT_DIR / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": platform.platform(), "rows": rows}, indent=2))
    print(f"→ {path}")
    return path


def _format(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)
