"""Wall time of `hnet-diag scan` over a folder of runs, per number of worker processes.

    python benchmarks/bench_scan.py [DIR] [--workers 1 2] [--repeat 3]

Default DIR is fixtures/runs (10 real runs). Each worker count is timed `--repeat` times,
interleaved (1, 2, 1, 2, ...) so a change of machine load hits both alike; the best and the
median are printed, and the tables are checked to be identical across worker counts. Run it
on an idle machine: on a shared one the numbers measure the neighbours.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from hnet_diag.report.scan_table import to_json
    from hnet_diag.scan import find_runs, scan

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", default=str(ROOT / "fixtures" / "runs"))
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    print(f"{len(find_runs(args.dir))} runs under {args.dir}")
    times: dict[int, list[float]] = {w: [] for w in args.workers}
    tables: dict[int, str] = {}
    for _ in range(args.repeat):
        for w in args.workers:
            t0 = time.perf_counter()
            result = scan(args.dir, workers=w)
            times[w].append(time.perf_counter() - t0)
            tables[w] = to_json(result)
    same = len(set(tables.values())) == 1
    for w, ts in times.items():
        print(f"--workers {w}: best {min(ts):.2f} s, median {statistics.median(ts):.2f} s  ({', '.join(f'{t:.2f}' for t in ts)})")
    print(f"identical tables across worker counts: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
