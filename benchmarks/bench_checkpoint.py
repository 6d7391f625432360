"""Checkpoint statistics against the floor: torch.load(mmap=True) plus one norm per tensor.

Claim measured (issue 12): for every checkpoint layout (one torch.save file, one
safetensors file, Hugging Face sharded safetensors and .bin, torch.distributed.checkpoint),
hnet-diag's per-tensor statistics take at most 2x the time of `torch.load(mmap=True)` plus
one `torch.linalg.vector_norm` per tensor of the same weights, with anonymous memory (RssAnon
above the process's level after imports) no more than the largest tensor plus 200 MB.

    python benchmarks/bench_checkpoint.py               # 2 GiB of fp32 weights (~10 GiB under /tmp)
    python benchmarks/bench_checkpoint.py --mib 256     # a quick run

Every layout is written by its own library, the files are read once to warm the page cache,
then each measurement runs in a fresh Python process (so its memory is its own) --repeat
times; the best wall time is reported. A sampling thread reads RssAnon from /proc every
5 ms. The folder is deleted at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, threading, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {root!r})
import torch
from hnet_diag import load_run
import torch.distributed.checkpoint  # noqa: F401 - imported before the baseline is taken
def anon_kb():
    with open("/proc/self/status") as fh:
        return int(next(l for l in fh if l.startswith("RssAnon:")).split()[1])
peak = [0]
stop = False
def sample():
    while not stop:
        peak[0] = max(peak[0], anon_kb()); time.sleep(0.005)
base = anon_kb()
th = threading.Thread(target=sample, daemon=True); th.start()
PATH = {path!r}
t = time.perf_counter()
{body}
wall = time.perf_counter() - t
stop = True; th.join()
peak[0] = max(peak[0], anon_kb())
print(json.dumps({{"wall": wall, "anon_mib": (peak[0] - base) / 1024, "n": n}}))
"""

BASELINE = """
sd = torch.load(PATH, mmap=True, weights_only=True, map_location="cpu")
n = 0
for v in sd.values():
    float(torch.linalg.vector_norm(v)); n += 1
"""

OURS = """
run = load_run(PATH)
n = sum(len(c.tensors) for c in run.checkpoints)
"""


def write_layouts(folder: Path, mib: int) -> tuple[dict[str, Path], int]:
    """The same fp32 weights in each layout; returns {layout: path} and the largest tensor's bytes."""
    import warnings

    import torch
    import torch.distributed.checkpoint as dcp
    from huggingface_hub import save_torch_state_dict
    from safetensors.torch import save_file

    warnings.simplefilter("ignore")
    d = 2048
    per_layer = 2 * (4 * d * d) * 4 + 4 * d  # bytes: a (4d, d) and a (d, 4d) fp32 matrix (64 MiB each) and a norm
    layers = max(1, (mib << 20) // per_layer)
    g = torch.Generator().manual_seed(0)
    sd = {"embeddings.weight": torch.randn(256, d, generator=g)}
    for i in range(layers):
        sd[f"layers.{i}.mlp.fc1.weight"] = torch.randn(4 * d, d, generator=g) * 0.02
        sd[f"layers.{i}.mlp.fc2.weight"] = torch.randn(d, 4 * d, generator=g) * 0.02
        sd[f"layers.{i}.norm.weight"] = torch.ones(d)
    paths = {}
    paths["torch .pt"] = folder / "pt" / "model.pt"
    paths["torch .pt"].parent.mkdir()
    torch.save(sd, paths["torch .pt"])
    paths["safetensors"] = folder / "st" / "model.safetensors"
    paths["safetensors"].parent.mkdir()
    save_file(sd, str(paths["safetensors"]))
    for name, safe in (("HF sharded safetensors", True), ("HF sharded .bin", False)):
        out = folder / ("hf_st" if safe else "hf_bin")
        out.mkdir()
        save_torch_state_dict(sd, out, safe_serialization=safe, max_shard_size="500MB")
        paths[name] = out
    paths["DCP"] = folder / "dcp"
    dcp.save(sd, checkpoint_id=paths["DCP"], no_dist=True)
    largest = max(t.numel() * t.element_size() for t in sd.values())
    return paths, largest


def child(path: Path, body: str) -> dict:
    code = CHILD.format(root=str(ROOT), path=str(path), body=body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def warm(path: Path) -> None:
    for f in ([path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())):
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=2048, help="size of the fp32 weights in MiB; default 2048")
    ap.add_argument("--repeat", type=int, default=2, help="runs per measurement (best wall time kept); default 2")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the layouts (default: a new folder in /tmp)")
    ap.add_argument("--write-only", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.write_only:
        _, largest = write_layouts(args.write_only, args.mib)
        print(largest)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench_ckpt_", dir=args.dir))
    try:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--write-only", str(tmp), "--mib", str(args.mib)],
                             capture_output=True, text=True, check=True)
        largest_mib = int(out.stdout.strip().splitlines()[-1]) / 2**20
        layouts = {"torch .pt": tmp / "pt" / "model.pt", "safetensors": tmp / "st" / "model.safetensors",
                   "HF sharded safetensors": tmp / "hf_st", "HF sharded .bin": tmp / "hf_bin", "DCP": tmp / "dcp"}
        size = sum(f.stat().st_size for f in (tmp / "pt").iterdir()) / 2**20
        print(f"wrote {len(layouts)} layouts of {size:.0f} MiB fp32 (largest tensor {largest_mib:.0f} MiB) in "
              f"{time.perf_counter() - t:.0f} s; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
        for p in layouts.values():
            warm(p)
        runs = [child(layouts["torch .pt"], BASELINE) for _ in range(args.repeat)]
        base = min(runs, key=lambda r: r["wall"])
        print(f"{'layout':24s} {'wall s':>7s} {'x floor':>8s} {'anon MiB':>9s} {'bound MiB':>10s} {'tensors':>8s}")
        print(f"{'floor: load(mmap)+norm':24s} {base['wall']:7.2f} {1.0:8.2f} {base['anon_mib']:9.0f} {'':>10s} {base['n']:8d}")
        ok = True
        for name, p in layouts.items():
            warm(p)
            runs = [child(p, OURS) for _ in range(args.repeat)]
            r = min(runs, key=lambda x: x["wall"])
            ratio = r["wall"] / base["wall"]
            bound = largest_mib + 200
            ok &= ratio <= 2.0 and r["anon_mib"] <= bound and r["n"] == base["n"]
            print(f"{name:24s} {r['wall']:7.2f} {ratio:8.2f} {r['anon_mib']:9.0f} {bound:10.0f} {r['n']:8d}")
        print("\nall layouts within 2x of the floor and the memory bound" if ok else "\nNOT all layouts met the targets")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
