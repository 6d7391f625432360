"""`hnet-diag analyze` on a long pretraining run: 1,000,000 steps x 50 tags of TensorBoard scalars.

Claim measured (issue 12): the whole `hnet-diag analyze RUN -o report.json` (read, analyze,
diagnose, write the report) on 50,000,000 scalars (~2.9 GB of event files) takes under 30 s
with a peak RSS under 2 GB.

    python benchmarks/bench_scale.py                       # full size (~3 GB under /tmp, deleted after)
    python benchmarks/bench_scale.py --steps 100000        # a tenth
    python benchmarks/bench_scale.py --keep DIR            # write into DIR and keep it (re-run with --file DIR)
    python benchmarks/bench_scale.py --file DIR            # analyze an existing run folder

Writing 50M scalars through torch's SummaryWriter takes most of an hour, so the event file is
written here record by record in TensorBoard's format (TFRecord framing with masked CRC32C,
`Event{wall_time, step, summary{value{tag, simple_value}}}` protos encoded by hand, the
`brain.Event:2` version record first). Before the big file is written, a small one made the
same way is checked against tensorboard's own EventFileLoader, so the input is what
TensorBoard would read. The values follow a healthy run (decaying loss with noise, warmup
then cosine LR, steady grad norm), so the analysis does its usual work.

The analysis runs in a child process; its wall time and peak RSS (VmHWM) are reported.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASE_TAGS = (
    ["train/loss", "train/bpb", "train/grad_norm", "train/lr"]
    + [f"train/{k}/stage{i}" for k in ("grad_norm", "lr", "ratio_loss", "compression") for i in range(3)]
    + ["train/boundary_prob/stage0", "train/boundary_prob/stage1", "train/boundary_frac/stage0", "train/tokens_per_s"]
)
TAGS = BASE_TAGS + [f"system/gpu{i // 5}/{k}" for i, k in enumerate(["util", "mem", "power", "temp", "clock"] * 6)]


def _mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    import google_crc32c

    return _mask(google_crc32c.value(data))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _record(data: bytes) -> bytes:
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", _masked_crc(head)) + data + struct.pack("<I", _masked_crc(data))


def _values(steps: np.ndarray, n_steps: int, rng: np.random.Generator) -> np.ndarray:
    """(len(steps), len(TAGS)) float32 values of a healthy run."""
    s = steps.astype(np.float64)
    warm = max(1, n_steps // 100)
    lr = np.where(s < warm, 3e-4 * s / warm, 3e-5 + 0.5 * (3e-4 - 3e-5) * (1 + np.cos(np.pi * (s - warm) / max(1, n_steps - warm))))
    loss = 1.0 + 4.0 * np.exp(-s / (n_steps / 8)) + 0.02 * rng.standard_normal(len(s))
    out = np.empty((len(s), len(TAGS)), dtype=np.float32)
    for j, tag in enumerate(TAGS):
        if tag == "train/loss":
            out[:, j] = loss
        elif tag == "train/bpb":
            out[:, j] = loss / math.log(2)
        elif "grad_norm" in tag:
            out[:, j] = 0.5 * np.exp(0.1 * rng.standard_normal(len(s)))
        elif "/lr" in tag:
            mult = (2.0, 1.5, 1.0)[int(tag[-1])] if tag[-1].isdigit() else 1.0
            out[:, j] = lr * mult
        elif "ratio_loss" in tag:
            out[:, j] = 1.0 + 0.01 * np.abs(rng.standard_normal(len(s)))
        elif "compression" in tag:
            out[:, j] = 3.0 + 0.05 * rng.standard_normal(len(s))
        elif "boundary" in tag:
            out[:, j] = 0.33 + 0.01 * rng.standard_normal(len(s))
        else:
            out[:, j] = 50 + rng.standard_normal(len(s))
    return out


def write_events(folder: Path, n_steps: int, chunk: int = 20_000) -> Path:
    """One event file of n_steps x len(TAGS) scalars in TensorBoard's record format."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"events.out.tfevents.1800000000.benchhost.{os.getpid()}.0"
    rng = np.random.default_rng(0)
    # everything after the step's shared head is fixed per tag except the 4 value bytes
    prefixes = []
    for t in TAGS:
        value_len = 1 + len(_varint(len(t.encode()))) + len(t.encode()) + 1 + 4
        summary_len = 1 + len(_varint(value_len)) + value_len
        prefixes.append(b"\x2a" + _varint(summary_len) + b"\x0a" + _varint(value_len)
                        + b"\x0a" + _varint(len(t.encode())) + t.encode() + b"\x15")
    import google_crc32c

    crc = google_crc32c.value
    pack_q, pack_i, pack_d = struct.Struct("<Q").pack, struct.Struct("<I").pack, struct.Struct("<d").pack
    heads_cache: dict[int, list[bytes]] = {}
    t0 = 1.8e9
    with open(path, "wb", buffering=1 << 24) as fh:
        fh.write(_record(b"\x09" + struct.pack("<d", t0) + b"\x1a\x0d" + b"brain.Event:2"))
        for start in range(0, n_steps, chunk):
            steps = np.arange(start, min(start + chunk, n_steps))
            raw = _values(steps, n_steps, rng).tobytes()
            out = []
            append = out.append
            k = 0
            for step in steps.tolist():
                head = b"\x09" + pack_d(t0 + step * 0.5) + b"\x10" + _varint(step)
                lens = heads_cache.get(len(head))
                if lens is None:  # the length header and its CRC depend only on the record length
                    lens = heads_cache[len(head)] = [
                        pack_q(len(head) + len(p) + 4) + pack_i(_mask(crc(pack_q(len(head) + len(p) + 4))))
                        for p in prefixes]
                for j, p in enumerate(prefixes):
                    data = head + p + raw[k:k + 4]
                    k += 4
                    append(lens[j])
                    append(data)
                    append(pack_i(_mask(crc(data))))
            fh.write(b"".join(out))
    return path


def check_format(tmp: Path) -> None:
    """A small file written the same way must read back exactly through tensorboard's loader."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    path = write_events(tmp / "check", 300)
    rng = np.random.default_rng(0)
    expect = _values(np.arange(300), 300, rng)
    got = {}
    for ev in EventFileLoader(str(path)).Load():
        for v in ev.summary.value:
            got[(ev.step, v.tag)] = v.tensor.float_val[0] if v.HasField("tensor") else v.simple_value
    assert len(got) == 300 * len(TAGS), len(got)
    for (step, tag), value in list(got.items())[:: 997]:
        assert np.float32(value) == expect[step, TAGS.index(tag)], (step, tag)
    shutil.rmtree(tmp / "check")


CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from hnet_diag.cli import main
t, c = time.perf_counter(), time.process_time()
rc = main(["analyze", {run!r}, "-o", {out!r}])
wall, cpu = time.perf_counter() - t, time.process_time() - c
with open("/proc/self/status") as fh:
    peak = int(next(l for l in fh if l.startswith("VmHWM:")).split()[1])
print(json.dumps({{"rc": rc, "wall": wall, "cpu": cpu, "peak_mib": peak / 1024}}))
"""


def analyze(run: Path, out: Path) -> dict:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), run=str(run), out=str(out))],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    total = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    r["process_wall"] = total
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1_000_000, help=f"steps (x {len(TAGS)} tags); default 1000000")
    ap.add_argument("--file", type=Path, help="analyze this existing run folder instead of writing one")
    ap.add_argument("--keep", type=Path, help="write the run into this folder and keep it")
    ap.add_argument("--repeat", type=int, default=1, help="analyze runs (best wall kept); default 1")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        if args.file:
            run = args.file
        else:
            check_format(tmp)
            run = args.keep or tmp / "run"
            t = time.perf_counter()
            path = write_events(run, args.steps)
            print(f"wrote {args.steps * len(TAGS):,} scalars ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t:.0f} s")
        size = sum(f.stat().st_size for f in run.rglob("events.out.tfevents.*"))
        print(f"run: {size / 1e9:.2f} GB of event files; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        runs = [analyze(run, tmp / "report.json") for _ in range(max(1, args.repeat))]
        best = min(runs, key=lambda r: r["wall"])
        print(f"hnet-diag analyze: {best['wall']:.1f} s wall, {best['cpu']:.1f} s CPU (process {best['process_wall']:.1f} s "
              f"incl. imports), "
              f"peak RSS {best['peak_mib']:.0f} MiB; targets < 30 s and < 2048 MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
