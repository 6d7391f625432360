"""Training data: bytes of text files, split into documents, packed into windows.

H-Net reads raw bytes (vocabulary 256, BOS 254, EOS 255 as in the official code), so there is
no tokenizer: a document is a byte string and a batch is a tensor of byte values.

Two choices matter for the diagnostics built on these runs:
- The validation split is drawn by *document* with a fixed seed that does not depend on the
  training seed, so runs with different seeds are scored on the same held-out text and no
  speech is half in train, half in validation.
- The batch for optimizer step s is a pure function of (seed, s). A resumed run therefore
  sees exactly the batches the uninterrupted run would have seen, and its loss curve
  continues the same curve; with DDP every rank draws the same global batch and keeps its
  own rows, so 2 processes compute what 1 process would.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

BOS = 254
EOS = 255
VOCAB_SIZE = 256

#: the validation split never depends on --seed (see the module docstring)
SPLIT_SEED = 20250710
DEFAULT_VAL_FRACTION = 0.1

_BLANK_LINES = re.compile(rb"\n[ \t\r]*\n")


#: how config.json names a file shipped with the package, so a run's config reads the same on any machine
BUNDLED_PREFIX = "bundled:"
DEFAULT_CORPUS = BUNDLED_PREFIX + "tinyshakespeare.txt"


def bundled_corpus() -> Path:
    """The default corpus shipped in the package (tinyshakespeare, public domain)."""
    return Path(__file__).resolve().parent / "corpus" / "tinyshakespeare.txt"


def resolve_data_path(name: str | Path) -> Path:
    """A data file path, or `bundled:NAME` for a file in hnet_diag/trainer/corpus."""
    text = str(name)
    if text.startswith(BUNDLED_PREFIX):
        return Path(__file__).resolve().parent / "corpus" / text[len(BUNDLED_PREFIX):]
    return Path(text)


def read_documents(paths: list[str | Path]) -> list[bytes]:
    """Read each file as bytes and split it into documents at blank lines.

    Blank-line separated paragraphs are the documents of plain text (speeches in
    tinyshakespeare); a file without blank lines is one document.
    """
    docs: list[bytes] = []
    for p in paths:
        path = resolve_data_path(p)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise InputError(path, f"cannot read training data ({err.strerror or err})") from err
        parts = [d.strip(b"\n") for d in _BLANK_LINES.split(raw)]
        docs.extend(d for d in parts if d.strip())
    if not docs:
        raise InputError(", ".join(str(p) for p in paths), "training data holds no text")
    return docs


def split_documents(docs: list[bytes], val_fraction: float = DEFAULT_VAL_FRACTION) -> tuple[list[bytes], list[bytes]]:
    """Split documents into (train, validation) at random with the fixed SPLIT_SEED.

    At least one document goes to each side, so a tiny file still yields both splits.
    """
    import torch

    if len(docs) < 2:
        # one document: cut it in two at a line break near the end rather than fail
        doc = docs[0]
        cut = doc.rfind(b"\n", 0, int(len(doc) * (1 - val_fraction))) + 1 or int(len(doc) * (1 - val_fraction))
        return [doc[:cut]], [doc[cut:]]
    g = torch.Generator().manual_seed(SPLIT_SEED)
    order = torch.randperm(len(docs), generator=g).tolist()
    n_val = min(len(docs) - 1, max(1, round(len(docs) * val_fraction)))
    val_ids = set(order[:n_val])
    train = [d for i, d in enumerate(docs) if i not in val_ids]
    val = [d for i, d in enumerate(docs) if i in val_ids]
    return train, val


def pack(docs: list[bytes]):
    """Concatenate documents into one uint8 stream, each document preceded by BOS."""
    import torch

    stream = bytearray()
    for d in docs:
        stream.append(BOS)
        stream += d
    return torch.frombuffer(stream, dtype=torch.uint8).clone()


@dataclass
class ByteBatches:
    """Windows of seq_len + 1 bytes from a packed stream: inputs are the first seq_len, targets the last.

    `train_batch(step)` draws random window starts from a generator seeded with
    (seed, step); `val_batches()` cuts the validation stream into fixed consecutive windows.
    """

    train: "object"  # torch.Tensor uint8, the packed training stream
    val: "object"  # torch.Tensor uint8, the packed validation stream
    seq_len: int
    batch_size: int  # global batch (all ranks together)
    seed: int

    @classmethod
    def from_files(cls, paths: list[str | Path], seq_len: int, batch_size: int, seed: int) -> "ByteBatches":
        train_docs, val_docs = split_documents(read_documents(paths))
        train, val = pack(train_docs), pack(val_docs)
        if len(train) <= seq_len + 1:
            raise InputError(", ".join(str(p) for p in paths), f"training split has {len(train)} bytes, fewer than --seq-len {seq_len} + 1")
        return cls(train=train, val=val, seq_len=seq_len, batch_size=batch_size, seed=seed)

    def train_batch(self, step: int, rank: int = 0, world_size: int = 1):
        """(inputs, targets) int64 [batch_size / world_size, seq_len] for optimizer step `step`."""
        import torch

        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        starts = torch.randint(0, len(self.train) - self.seq_len - 1, (self.batch_size,), generator=g)
        starts = starts[rank::world_size]
        return self._windows(self.train, starts)

    def val_batches(self, max_windows: int = 64, batch_size: int | None = None):
        """Fixed validation windows, in batches (default: 4x the training batch), the same for every call.

        No gradients are kept during evaluation, so larger batches cost little memory and
        save the per-call overhead that dominates small models on a CPU.
        """
        batch_size = batch_size or 4 * self.batch_size
        import torch

        n = max(1, min(max_windows, (len(self.val) - 1) // self.seq_len))
        if len(self.val) <= self.seq_len + 1:  # tiny validation split: one padded-by-repeat window
            reps = (self.seq_len + 2) // max(1, len(self.val)) + 1
            stream = self.val.repeat(reps)
        else:
            stream = self.val
        starts = torch.arange(n) * self.seq_len
        starts = starts[starts + self.seq_len + 1 <= len(stream)]
        for i in range(0, len(starts), batch_size):
            yield self._windows(stream, starts[i : i + batch_size])

    def _windows(self, stream, starts):
        import torch

        idx = starts[:, None] + torch.arange(self.seq_len + 1)[None, :]
        w = stream[idx].long()
        return w[:, :-1], w[:, 1:]
