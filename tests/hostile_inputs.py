"""Crafted hostile run-folder contents, shared by the regression tests and the fuzz suite.

Each maker writes real files of the format it attacks (torch.save, safetensors, a
TensorBoard-framed record with correct CRCs, YAML, CSV...) into a folder. Nothing here is a
stand-in for a reader: the readers get the bytes an attacker or a broken job would leave.
"""
from __future__ import annotations

import contextlib
import os
import signal
import struct
import sys
from pathlib import Path


# -- guards ---------------------------------------------------------------------------------
@contextlib.contextmanager
def deadline(seconds: float):
    """Fail when the block runs longer than `seconds`.

    SIGALRM interrupts Python code (a hang in a loop); a long C call such as one regex
    match only sees the signal when it returns, so the elapsed time is checked as well.
    """
    import time

    def on_alarm(signum, frame):
        raise TimeoutError(f"took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    elapsed = time.monotonic() - start
    if elapsed > seconds:
        raise TimeoutError(f"took {elapsed:.1f} s, longer than {seconds} s")


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tree_digest(root: Path) -> dict[str, tuple]:
    """Every entry under root with its type, size, mtime and (for small files) content hash."""
    import hashlib

    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            digest = None
            if p.is_file() and not p.is_symlink() and st.st_size < (64 << 20):
                try:
                    digest = hashlib.sha256(p.read_bytes()).hexdigest()
                except OSError:
                    digest = "unreadable"
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


# -- nesting --------------------------------------------------------------------------------
def deep_json(levels: int) -> str:
    return "[" * levels + "]" * levels


def deep_dict(levels: int) -> dict:
    node: dict = {"lr": 1e-3}
    for _ in range(levels):
        node = {"a": node}
    return node


def shared_tree(levels: int = 40, width: int = 10) -> dict:
    """A 'billion laughs' of shared references: tiny pickled, width**levels expanded."""
    node: object = "x"
    for _ in range(levels):
        node = [node] * width
    return {"lr": 1e-3, "tree": node}


def yaml_alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [m1]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    lines.append(f"arch_layout: [m1, *a{levels - 1}, m1]")
    lines.append("d_model: [8, 16]")
    return "\n".join(lines) + "\n"


# -- checkpoints ------------------------------------------------------------------------------
def save_deep_checkpoint(path: Path, levels: int = 2000) -> None:
    import torch

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, levels * 4 + 1000))
    try:
        torch.save({"model": {"w": torch.ones(2)}, "config": deep_dict(levels)}, path)
    finally:
        sys.setrecursionlimit(old)


def save_safetensors_deep_metadata(path: Path, levels: int = 2000) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, str(path), metadata={"config": deep_json(levels), "step": "7"})


def save_evil_pickle(path: Path, callable_name: str = "os.system", legacy: bool = False) -> None:
    """A checkpoint whose unpickling would call os.system / subprocess.Popen."""
    import os as _os
    import subprocess

    import torch

    target = {"os.system": _os.system, "subprocess.Popen": subprocess.Popen}[callable_name]

    class Payload:
        def __reduce__(self):
            return (target, (["true"] if target is subprocess.Popen else "true",))

    if legacy:
        import pickle

        with open(path, "wb") as fh:
            pickle.dump({"model": Payload()}, fh, protocol=2)
    else:
        torch.save({"model": Payload()}, path)


def save_hnet_checkpoint(path: Path, d_model: int = 4096) -> None:
    """A reference-trainer-shaped checkpoint that claims a big model but holds tiny tensors."""
    import torch

    model = {"arch_layout": ["m1", ["T1"], "m1"], "d_model": [d_model, d_model], "d_intermediate": [0, 4 * d_model],
             "vocab_size": 256, "attn_cfg": {"num_heads": [8, 8], "rotary_emb_dim": [16, 16], "window_size": [-1, -1]}}
    torch.save({"model": {"embeddings.weight": torch.zeros(256, 8)}, "config": {"model": model, "training": {"seq_len": 64}},
                "step": 10}, path)


# -- TensorBoard ------------------------------------------------------------------------------
def _masked_crc(data: bytes) -> int:
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tf_record(data: bytes) -> bytes:
    """One TFRecord with correct length and data CRCs."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2]) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def event_with_bad_metadata(step: int = 3) -> bytes:
    """Event{wall_time, step, summary{value{tag, metadata: <truncated message>, simple_value}}}."""
    bad_metadata = b"\x0a\x05\xff\xff"  # field 1, length 5, but only 2 bytes follow
    value = _field(1, b"loss") + _field(9, bad_metadata) + b"\x15" + struct.pack("<f", 1.5)
    summary = _field(1, value)
    return b"\x09" + struct.pack("<d", 1.7e9) + b"\x10" + _varint(step) + _field(5, summary)


def write_event_file_with_bad_metadata(folder: Path) -> Path:
    """A real SummaryWriter file, then a CRC-valid record whose summary metadata is malformed."""
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(folder))
    for step in range(3):
        w.add_scalar("loss", 2.0 - step * 0.1, step)
    w.close()
    (path,) = folder.glob("events.out.tfevents.*")
    with open(path, "ab") as fh:
        fh.write(tf_record(event_with_bad_metadata()))
    return path


# -- small writers ------------------------------------------------------------------------------
def write(folder: Path, name: str, content: str | bytes) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


GOOD_JSONL = '{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.9}\n'
