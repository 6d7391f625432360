"""TensorBoard event files: scalars only, read fast and exactly.

Why not tensorboard's EventAccumulator or tbparse: they parse every record into Python
protobuf objects, about 25 microseconds per scalar, so a long run's event file takes a
minute. This reader frames the file with numpy (`tfrecord.py`) and decodes the common case
without touching records one by one:

* Fast path. `SummaryWriter.add_scalar` (torch and tensorboardX) writes every scalar as the
  same byte layout: `Event{wall_time, step, summary{value{tag, simple_value}}}`. Checking
  that layout for all records at once and reading wall_time, step (a varint), value and the
  tag bytes by offset needs a few dozen numpy operations per 32 K records. Tags are told
  apart by hashing their bytes and then comparing every record's bytes with its tag's
  first record, so a hash collision cannot merge two tags.
* General path. Any other record (the file_version event, TF2 tensor scalars, summaries
  with metadata or several values, images and histograms) goes through a small
  protobuf decoder written against the Event/Summary/TensorProto field numbers, which
  skips non-scalar payloads without reading them. It follows protobuf's rules where they
  change the answer: a later member of a oneof clears the earlier one, repeated
  messages merge, a missing field is 0. It costs ~9 microseconds per scalar, so a file of
  millions of TF2-style tensor scalars is only ~5x faster than tbparse; a second
  vectorised layout for those would be the next step.

Measured (benchmarks/bench_tensorboard.py, 2,000,000 SummaryWriter scalars, 113 MiB, 2
shared cores): ~0.6 CPU s in all (CRC ~0.2, tag/step/value decode ~0.18, framing ~0.1),
against ~39 CPU s for tbparse; peak RSS ~2.5x the file (the file's bytes are held once).

Which tensors are scalars: a TensorProto with one element of a numeric dtype (float,
double, half, bfloat16, signed and unsigned ints, bool), whose tag's first metadata names
the `scalars` plugin, declares DATA_CLASS_SCALAR, or does not exist. TF2 writes the
metadata only with a tag's first event, so it is remembered per folder.

A folder is one writer stream. Its event files are read in the order of their first
wall_time (ties by name) and concatenated. A write whose step is at or below the previous
write of the same tag starts a new segment (a resumed run): it is recorded as a "restart"
RunEvent; writes of other tags that go back before that tag's next write belong to the
same restart. Superseded rows are kept, in write order, and `stream` is the folder, so
`Run.metric` keeps the newest write of each step, as TensorBoard does. Event files in a
folder named train/val/valid/validation/eval/test get that name as a tag prefix
(`val/loss`), so the alias table can tell a validation loss from a training loss.

The (tag, step, value) triples equal EventAccumulator's (scalars from simple_value,
tensor scalars from its tensors) on files where EventAccumulator does not purge; see
tests/test_tensorboard.py.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..run import LoadWarning, RunEvent
from . import tfrecord
from .base import SourceData
from .untrusted import open_regular

#: writer sub-folders whose name becomes the tags' prefix
SPLIT_FOLDERS = {"train", "val", "valid", "validation", "eval", "test"}
#: at most this many restart events per folder; more become one warning
MAX_RESTART_EVENTS = 20
#: bound on the fast path's tag key (length byte + tag); its one-byte lengths keep tags < 119 bytes
FAST_KEY_MAX = 128
#: offsets listed in a warning before "..."
SHOWN_OFFSETS = 5


# ---------------------------------------------------------------------------------------
# reading a folder
# ---------------------------------------------------------------------------------------
def read_folder(folder: Path, files: list[Path]) -> SourceData:
    """Read all event files of one writer folder into one stream of scalars."""
    folder = Path(folder)
    data = SourceData()
    ordered = sorted(files, key=lambda f: (_first_wall_time(f), f.name))
    plugins: dict[str, tuple[str, int]] = {}
    parts: list[_FileScalars] = []
    problems: list[str] = []
    for f in ordered:
        try:
            part = _read_file(Path(f), plugins)
        except InputError as err:
            problems.append(f"{Path(f).name}: {err.problem}")
            data.warnings.append(LoadWarning(str(f), err.problem))
            continue
        data.warnings.extend(part.warnings)
        data.events.extend(part.events)
        parts.append(part)
    if not parts:  # the loader turns this into one warning naming the folder and each file
        raise InputError(folder, "no readable event file: " + "; ".join(problems))
    frame = _stream_frame(folder, parts, data)
    if frame is not None:
        data.scalars = frame
    elif not data.warnings:
        data.warnings.append(LoadWarning(str(folder), "event files hold no scalar summaries"))
    return data


def _first_wall_time(path: Path) -> float:
    """wall_time of a file's first record, read without loading the file (inf if none)."""
    try:
        with open_regular(path) as fh:
            head = fh.read(12)
            if len(head) < 12:
                return float("inf")
            (n,) = struct.unpack("<Q", head[:8])
            if n > 1 << 20:
                return float("inf")
            event = _decode_event(fh.read(n))
    except (OSError, InputError, _Malformed, struct.error):
        return float("inf")
    return event[0] if event else float("inf")


def _stream_frame(folder: Path, parts: list[_FileScalars], data: SourceData):
    """Concatenate the files of one folder, prefix split tags, find restarts, build the frame."""
    import pandas as pd

    tags: dict[str, int] = {}
    codes, steps, values, walls, sources = [], [], [], [], []
    prefix = folder.name if folder.name.lower() in SPLIT_FOLDERS else None
    for i, part in enumerate(parts):
        if part.step.size == 0:
            continue
        names = [_prefixed(t, prefix) for t in part.tags]
        remap = np.array([tags.setdefault(t, len(tags)) for t in names], dtype=np.int32)
        codes.append(remap[part.code])
        steps.append(part.step)
        values.append(part.value)
        walls.append(part.wall_time)
        sources.append(np.full(part.step.size, i, dtype=np.int16 if len(parts) < 2**15 else np.int32))
    if not codes:
        return None

    def joined(arrays):  # one file (the usual case): no copy
        return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)

    code, step, source = joined(codes), joined(steps), joined(sources)
    _find_restarts(code, step, source, parts, data)
    files = [str(p.path) for p in parts]
    return pd.DataFrame(
        {
            "tag": pd.Categorical.from_codes(code, categories=list(tags)),
            "step": step,
            "value": joined(values),
            "wall_time": joined(walls),
            "source": pd.Categorical.from_codes(source, categories=files),
            "stream": pd.Categorical.from_codes(np.zeros(code.size, dtype=np.int8), categories=[str(folder)]),
        },
        copy=False,
    )


def _prefixed(tag: str, split: str | None) -> str:
    """`loss` in a val/ folder becomes `val/loss`; `val/loss` and `val_loss` stay as they are."""
    if split is None or re.match(re.escape(split) + r"[/_\-.]", tag, re.IGNORECASE):
        return tag
    return f"{split}/{tag}"


def _find_restarts(code: np.ndarray, step: np.ndarray, source: np.ndarray, parts: list, data: SourceData) -> None:
    """Record a restart where a tag's step goes back to or below its previous write."""
    small = code.astype(np.int16) if len(parts) and code.max(initial=0) < 2**15 else code
    order = np.argsort(small, kind="stable")  # by tag, write order kept within a tag (radix sort)
    same_tag = code[order[1:]] == code[order[:-1]]
    back = same_tag & (step[order[1:]] <= step[order[:-1]])
    if not back.any():
        return
    rows = order[1:][back]
    prev = order[:-1][back]
    by_row = np.argsort(rows, kind="stable")
    restarts: list[int] = []
    for r, p in zip(rows[by_row].tolist(), prev[by_row].tolist()):
        if restarts and p < restarts[-1]:
            continue  # this tag was last written before the current restart: same resume
        restarts.append(r)
    for r in restarts[:MAX_RESTART_EVENTS]:
        part = parts[int(source[r])]
        data.events.append(RunEvent("restart", str(part.path), int(step[r]), "steps go back: resumed or restarted run"))
    if len(restarts) > MAX_RESTART_EVENTS:
        data.warnings.append(
            LoadWarning(str(parts[0].path.parent), f"{len(restarts)} restarts (steps going back); only the first {MAX_RESTART_EVENTS} are listed as events")
        )


# ---------------------------------------------------------------------------------------
# reading one file
# ---------------------------------------------------------------------------------------
@dataclass
class _FileScalars:
    path: Path
    tags: list[str]
    code: np.ndarray  # int32 index into tags, one per scalar, in write order
    step: np.ndarray  # int64
    value: np.ndarray  # float64
    wall_time: np.ndarray  # float64
    warnings: list[LoadWarning] = field(default_factory=list)
    events: list[RunEvent] = field(default_factory=list)


def _read_file(path: Path, plugins: dict[str, tuple[str, int]]) -> _FileScalars:
    buf, size = tfrecord.read_padded(path)
    if size == 0:
        raise InputError(path, "empty event file (writer opened, nothing written yet?)")
    fr = tfrecord.frame(buf, size)
    if fr.length.size == 0:
        if fr.stop == "truncated":
            raise InputError(path, f"too short to hold one event record ({size} bytes)")
        raise InputError(path, "not a TensorBoard event file (no valid record header at byte 0)")
    warnings: list[LoadWarning] = []
    events: list[RunEvent] = []
    bad = np.flatnonzero(~fr.crc_ok)
    if bad.size:
        warnings.append(LoadWarning(str(path), f"{bad.size} record(s) with a bad CRC skipped (at byte {_offsets(fr.header_offset[bad])})"))
        events.append(RunEvent("skipped_records", str(path), None, f"{bad.size} record(s) with a bad CRC"))

    if bad.size:
        good = np.flatnonzero(fr.crc_ok)
        start, length = fr.data_start[good], fr.length[good]
    else:  # the common case: no copies of the framing arrays
        good, start, length = None, fr.data_start, fr.length
    fast = _fast_simple_values(buf, start, length)
    slow_rows, malformed = _general_records(buf, start, length, ~fast.ok, plugins)
    del buf
    n_read = start.size
    if malformed:
        offs = (start - (12 + tfrecord.FRONT_PAD))[malformed]
        warnings.append(LoadWarning(str(path), f"{len(malformed)} record(s) are not readable Event protos, skipped (at byte {_offsets(offs)})"))
    tags, code, step, value, wall = _merge(fast, slow_rows)

    last_step = int(step[-1]) if step.size else None
    if fr.stop == "truncated":
        warnings.append(LoadWarning(str(path), f"last record at byte {fr.stop_offset} is incomplete (run still writing?); read the {n_read} records before it"))
        events.append(RunEvent("truncated", str(path), last_step, f"incomplete record at byte {fr.stop_offset}"))
    elif fr.stop == "corrupt_length":
        warnings.append(LoadWarning(str(path), f"corrupt record length at byte {fr.stop_offset}; the remaining {size - fr.stop_offset} bytes are ignored"))
        events.append(RunEvent("skipped_records", str(path), last_step, f"corrupt record length at byte {fr.stop_offset}"))
    return _FileScalars(path, tags, code, step, value, wall, warnings, events)


def decode_scalars(buf: np.ndarray, start: np.ndarray, length: np.ndarray, plugins: dict[str, tuple[str, int]]):
    """Scalars of the given records of `buf` (padded as `tfrecord.read_padded` pads), in record order.

    Returns (tags, code, step, value, wall_time, malformed record indices). The same fast
    path and general decoder as a whole file gets, for readers that frame only part of a
    file themselves (the live tail in `sources/tail.py` reads only the bytes that are new).
    """
    fast = _fast_simple_values(buf, start, length)
    slow_rows, malformed = _general_records(buf, start, length, ~fast.ok, plugins)
    tags, code, step, value, wall = _merge(fast, slow_rows)
    return tags, code, step, value, wall, malformed


def _offsets(offsets: np.ndarray) -> str:
    shown = ", ".join(str(int(o)) for o in offsets[:SHOWN_OFFSETS])
    return shown + (" ..." if offsets.size > SHOWN_OFFSETS else "")


def _merge(fast: _FastScalars, slow: list[tuple[int, str, int, float, float]]):
    """Fast-path and general-path scalars as one set of arrays in record order."""
    tags: dict[str, int] = {}
    fast_remap = np.array([tags.setdefault(t, len(tags)) for t in fast.tags] or [0], dtype=np.int32)
    if fast.ok.all():
        sel = np.arange(fast.ok.size)
        code, step, value, wall = fast_remap[fast.code], fast.step, fast.value, fast.wall_time
    else:
        sel = np.flatnonzero(fast.ok)
        code = fast_remap[fast.code[sel]] if sel.size else np.zeros(0, dtype=np.int32)
        step, value, wall = fast.step[sel], fast.value[sel], fast.wall_time[sel]
    if slow:
        rec = np.array([r[0] for r in slow], dtype=np.int64)
        s_code = np.array([tags.setdefault(r[1], len(tags)) for r in slow], dtype=np.int32)
        s_step = np.array([r[2] for r in slow], dtype=np.int64)
        s_value = np.array([r[3] for r in slow], dtype=np.float64)
        s_wall = np.array([r[4] for r in slow], dtype=np.float64)
        order = np.argsort(np.concatenate([sel, rec]), kind="stable")
        code = np.concatenate([code, s_code])[order]
        step = np.concatenate([step, s_step])[order]
        value = np.concatenate([value, s_value])[order]
        wall = np.concatenate([wall, s_wall])[order]
    return list(tags), code, step, value, wall


# ---------------------------------------------------------------------------------------
# fast path: SummaryWriter's simple_value layout, decoded for all records at once
# ---------------------------------------------------------------------------------------
@dataclass
class _FastScalars:
    ok: np.ndarray  # bool per record: decoded here (else: general path)
    code: np.ndarray
    step: np.ndarray
    value: np.ndarray
    wall_time: np.ndarray
    tags: list[str]


_HIGH_BITS = np.uint64(0x8080808080808080)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_HASH_MULT = np.array([0x9E3779B97F4A7C15 ^ (i * 0xBF58476D1CE4E5B9 & (2**64 - 1)) | 1 for i in range(FAST_KEY_MAX // 8)], dtype=np.uint64)
_KEEP_HIGH8 = np.array([(~((1 << (8 * i)) - 1)) & (2**64 - 1) for i in range(9)], dtype=np.uint64)


def _fast_simple_values(buf: np.ndarray, start: np.ndarray, length: np.ndarray) -> _FastScalars:
    """Decode records laid out exactly as

        09 <f64 wall_time> [10 <varint step>] 2a <l1> 0a <l1-2> 0a <tl> <tag> 15 <f32 value>

    (Event{1: wall_time, 2: step, 5: Summary{1: Value{1: tag, 2: simple_value}}}, every
    length one byte). A record that matches this byte for byte parses to exactly these
    fields, so the fast path is as exact as a full protobuf parse; all others are left to
    the general decoder. Works in blocks of tfrecord.CHUNK records so the bytes each block
    reads stay in cache.
    """
    n = start.size
    out = _FastScalars(
        ok=np.zeros(n, dtype=bool),
        code=np.zeros(n, dtype=np.int32),
        step=np.zeros(n, dtype=np.int64),
        value=np.zeros(n, dtype=np.float64),
        wall_time=np.zeros(n, dtype=np.float64),
        tags=[],
    )
    tags = _TagTable(buf)
    for lo in range(0, n, tfrecord.CHUNK):
        _fast_block(buf, start[lo:lo + tfrecord.CHUNK], length[lo:lo + tfrecord.CHUNK], lo, out, tags)
    out.tags = tags.names()
    return out


def _fast_block(buf, start, length, offset, out: _FastScalars, tags: _TagTable) -> None:
    u64 = tfrecord.at(buf, "<u8")
    if length.min() >= 20 and length.max() <= 147 and (buf[start] == 0x09).all():
        idx, s, L = None, start, length  # the usual block: every record may fit the layout
    else:  # 1-byte lengths bound the layout's size to 20..147 bytes
        idx = np.flatnonzero((length >= 20) & (length <= 147))
        idx = idx[buf[start[idx]] == 0x09]
        s, L = start[idx], length[idx]

    # step: absent (step 0 is not written) or a varint of at most 8 bytes
    b9 = buf[s + 9]
    v = u64[s + 10]
    stop_bits = ~v & _HIGH_BITS
    lowest = stop_bits & (~stop_bits + np.uint64(1))
    nbytes = np.frexp(lowest.astype(np.float64))[1] >> 3  # 0 when no stop bit in 8 bytes
    has_step = b9 == 0x10
    good = (has_step & (nbytes > 0)) | (b9 == 0x2A)
    p = np.where(has_step, 10 + nbytes, 9)

    # summary, value and tag headers: 2a <tl+9> 0a <tl+7> 0a <tl>, tl = tag length <= 118
    tl = L - p - 11
    header = (u64[s + p] & np.uint64(0xFFFFFFFFFFFF)).astype(np.int64)
    good &= (header == _HEADER_BASE + tl * _HEADER_STEP) & (tl.astype(np.uint64) <= np.uint64(118))
    good &= buf[s + L - 5] == 0x15  # then simple_value (field 2, fixed32) ends the record
    if not good.all():
        keep = np.flatnonzero(good)
        idx = keep if idx is None else idx[keep]
        s, L, tl, v, lowest, has_step = s[keep], L[keep], tl[keep], v[keep], lowest[keep], has_step[keep]
    if s.size == 0:
        return
    code, matched = tags.codes(s + L - 5, tl)
    if not matched.all():
        keep = np.flatnonzero(matched)
        idx = keep if idx is None else idx[keep]
        s, L, v, lowest, has_step, code = s[keep], L[keep], v[keep], lowest[keep], has_step[keep], code[keep]
    m = v & ((lowest << np.uint64(1)) - np.uint64(1)) & _LOW7
    m = (m & np.uint64(0x007F007F007F007F)) | ((m & np.uint64(0x7F007F007F007F00)) >> np.uint64(1))
    m = (m & np.uint64(0x00003FFF00003FFF)) | ((m & np.uint64(0x3FFF00003FFF0000)) >> np.uint64(2))
    m = (m & np.uint64(0x000000000FFFFFFF)) | ((m & np.uint64(0x0FFFFFFF00000000)) >> np.uint64(4))
    m *= has_step
    where = slice(offset, offset + s.size) if idx is None else idx + offset
    out.ok[where] = True
    out.code[where] = code
    out.step[where] = m.view(np.int64)
    out.wall_time[where] = tfrecord.at(buf, "<f8")[s + 1]
    out.value[where] = tfrecord.at(buf, "<f4")[s + L - 4]


#: the tag-header bytes 2a <tl+9> 0a <tl+7> 0a <tl> as one little-endian integer: BASE + tl*STEP
_HEADER_BASE = 0x2A | (9 << 8) | (0x0A << 16) | (7 << 24) | (0x0A << 32)
_HEADER_STEP = (1 << 8) | (1 << 24) | (1 << 40)


class _TagTable:
    """Numbers tags by their bytes: one code per distinct (length byte + tag bytes).

    Keys are hashed for speed, then every record's key is compared with the first key seen
    for its hash, so a hash collision cannot merge two tags (such a record is reported as
    unmatched and left to the general path).
    """

    def __init__(self, buf: np.ndarray):
        self.buf = buf
        self.known: dict[tuple[int, int], int] = {}  # (width, hash) -> code
        self.reps: dict[int, dict[int, np.ndarray]] = {}  # key width -> code -> key words
        self.tags: list[str] = []

    def codes(self, tag_end: np.ndarray, tag_len: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import pandas as pd

        width = -(-(int(tag_len.max()) + 1) // 8) * 8
        words_n = width // 8
        rows = tfrecord.at(self.buf, f"V{width}")[tag_end - width]  # key right-aligned in the row
        words = np.ascontiguousarray(rows.view("<u8").reshape(-1, words_n).T)  # one row per word
        junk = width - (tag_len + 1)  # bytes in front of the length byte: not the key's
        for w in range(-(-int(junk.max()) // 8)):
            words[w] &= _KEEP_HIGH8[np.clip(junk - 8 * w, 0, 8)]
        h = words[0] * _HASH_MULT[0]
        for w in range(1, words_n):
            h += words[w] * _HASH_MULT[w]
        local, uniq = pd.factorize(h)
        firsts = np.flatnonzero(np.diff(np.maximum.accumulate(local), prepend=-1) > 0)
        to_code = np.empty(len(uniq), dtype=np.int32)
        rep_words = np.empty((words_n, len(uniq)), dtype=np.uint64)
        for i, hv in enumerate(uniq.tolist()):
            key = (width, hv)
            if key not in self.known:
                row = words[:, firsts[i]].copy()
                n = int(tag_len[firsts[i]])
                self.known[key] = len(self.tags)
                self.tags.append(row.view(np.uint8).tobytes()[width - n:].decode("utf-8", "replace") if n else "")
                self.reps.setdefault(width, {})[len(self.tags) - 1] = row
            to_code[i] = self.known[key]
            rep_words[:, i] = self.reps[width][to_code[i]]
        differs = words[0] != rep_words[0][local]
        for w in range(1, words_n):
            differs |= words[w] != rep_words[w][local]
        return to_code[local], ~differs

    def names(self) -> list[str]:
        return self.tags


# ---------------------------------------------------------------------------------------
# general path: a minimal protobuf decoder for Event / Summary / TensorProto
# ---------------------------------------------------------------------------------------
class _Malformed(ValueError):
    """The bytes are not a valid protobuf message (a ValueError, so no caller can miss it)."""


def _general_records(buf, start, length, todo, plugins):
    """Decode the records marked `todo` one by one; returns (rows, malformed indices).

    rows are (record index, tag, step, value, wall_time) for every scalar found.
    """
    rows: list[tuple[int, str, int, float, float]] = []
    malformed: list[int] = []
    for i in np.flatnonzero(todo).tolist():
        s = int(start[i])
        try:
            wall, step, values = _decode_event(buf[s:s + int(length[i])].tobytes())
            # the scalar extraction decodes metadata and tensors lazily: it is guarded too
            found = list(_scalars(values, plugins))
        except (_Malformed, struct.error, ValueError, TypeError, OverflowError, IndexError):
            malformed.append(i)
            continue
        rows.extend((i, tag, step, scalar, wall) for tag, scalar in found)
    return rows, malformed


def _varint(b: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(b) or shift > 63:
            raise _Malformed
        byte = b[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _fields(b: bytes, pos: int, end: int):
    """(field number, wire type, value) of one message in b[pos:end]; value is the int for
    varints, the offset for fixed64/fixed32, and (start, end) for length-delimited."""
    while pos < end:
        key, pos = _varint(b, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(b, pos)
        elif wire == 1:
            value, pos = pos, pos + 8
        elif wire == 2:
            n, pos = _varint(b, pos)
            value, pos = (pos, pos + n), pos + n
        elif wire == 5:
            value, pos = pos, pos + 4
        else:  # groups (3, 4) are never used by these messages
            raise _Malformed
        if pos > end or number == 0:
            raise _Malformed
        yield number, wire, value


_EVENT_ONEOF = {3, 4, 5, 6, 7, 8, 9}  # file_version, graph_def, summary, log_message, ...
_VALUE_ONEOF = {2: 5, 3: 2, 4: 2, 5: 2, 6: 2, 8: 2}  # simple_value (fixed32), histo..., tensor


def _decode_event(b: bytes):
    """(wall_time, step, [(tag, kind, payload, metadata ranges)]) of one Event record."""
    wall, step = 0.0, 0
    summaries: list[tuple[int, int]] = []
    for number, wire, v in _fields(b, 0, len(b)):
        if number == 1 and wire == 1:
            wall = struct.unpack_from("<d", b, v)[0]
        elif number == 2 and wire == 0:
            step = _signed(v)
        elif number in _EVENT_ONEOF and wire == 2:
            if number == 5:
                summaries.append(v)
            else:
                summaries = []  # another member of the oneof replaces the summary
    values = []
    for lo, hi in summaries:
        for number, wire, v in _fields(b, lo, hi):
            if number == 1 and wire == 2:
                values.append(_decode_value(b, *v))
    return wall, step, values


def _decode_value(b: bytes, lo: int, hi: int):
    tag = node_name = ""
    kind = 0  # oneof member last set
    payload: list = []
    metadata: list[tuple[int, int]] = []
    for number, wire, v in _fields(b, lo, hi):
        if number == 1 and wire == 2:
            tag = b[v[0]:v[1]].decode("utf-8", "replace")
        elif number == 7 and wire == 2:
            node_name = b[v[0]:v[1]].decode("utf-8", "replace")
        elif number == 9 and wire == 2:
            metadata.append(v)
        elif _VALUE_ONEOF.get(number) == wire:
            if number != kind or number != 8:
                payload = []
            kind = number
            payload.append(v)
    return tag, node_name, kind, payload, metadata, b


def _metadata(b: bytes, ranges) -> tuple[str, int]:
    plugin, data_class = "", 0
    for lo, hi in ranges:
        for number, wire, v in _fields(b, lo, hi):
            if number == 1 and wire == 2:
                for n2, w2, v2 in _fields(b, *v):
                    if n2 == 1 and w2 == 2:
                        plugin = b[v2[0]:v2[1]].decode("utf-8", "replace")
            elif number == 4 and wire == 0:
                data_class = v
    return plugin, data_class


def _scalars(values, plugins):
    """The scalar (tag, value) pairs of one event's summary values."""
    for tag, node_name, kind, payload, metadata, b in values:
        if metadata and tag not in plugins:
            plugins[tag] = _metadata(b, metadata)
        if kind == 2:
            yield tag, float(struct.unpack_from("<f", b, payload[-1])[0])
        elif kind == 8:
            tag = tag or node_name
            plugin, data_class = plugins.get(tag, ("", 0))
            if plugin not in ("", "scalars") and data_class != 1:
                continue
            scalar = _tensor_scalar(b, payload)
            if scalar is not None:
                yield tag, scalar


# TensorProto dtype -> (numpy dtype of tensor_content, field number of its *_val list)
_DTYPES = {
    1: ("<f4", 5), 2: ("<f8", 6), 3: ("<i4", 7), 4: ("u1", 7), 5: ("<i2", 7), 6: ("i1", 7),
    9: ("<i8", 10), 10: ("?", 11), 14: ("bfloat16", 13), 17: ("<u2", 7), 19: ("<f2", 13),
    22: ("<u4", 16), 23: ("<u8", 17),
}


def _tensor_scalar(b: bytes, ranges) -> float | None:
    """The value of a one-element numeric TensorProto, else None."""
    dtype = 0
    numel = 1
    content = b""
    vals: dict[int, list] = {}
    for lo, hi in ranges:
        for number, wire, v in _fields(b, lo, hi):
            if number == 1 and wire == 0:
                dtype = v
            elif number == 2 and wire == 2:
                for n2, w2, v2 in _fields(b, *v):
                    if n2 == 2 and w2 == 2:  # dim
                        size = 0
                        for n3, w3, v3 in _fields(b, *v2):
                            if n3 == 1 and w3 == 0:
                                size = _signed(v3)
                        numel *= size
                    elif n2 == 3 and w2 == 0 and v2:
                        return None  # unknown rank
            elif number == 4 and wire == 2:
                content = b[v[0]:v[1]]
            elif number in (5, 6, 7, 10, 11, 13, 16, 17):
                vals.setdefault(number, []).extend(_repeated(b, number, wire, v))
    if dtype not in _DTYPES or numel != 1:
        return None
    np_dtype, val_field = _DTYPES[dtype]
    if content:
        if np_dtype == "bfloat16":
            if len(content) != 2:
                return None
            return float(np.frombuffer(b"\0\0" + content, "<f4")[0])
        if len(content) != np.dtype(np_dtype).itemsize:
            return None
        return float(np.frombuffer(content, np_dtype)[0])
    found = vals.get(val_field, [])
    if len(found) > 1:
        return None
    raw = found[0] if found else 0
    if dtype == 19:
        return float(np.array([raw & 0xFFFF], dtype=np.uint16).view(np.float16)[0])
    if dtype == 14:
        return float(np.array([(raw & 0xFFFF) << 16], dtype=np.uint32).view(np.float32)[0])
    if val_field == 7 or val_field == 10:
        raw = _signed(raw) if isinstance(raw, int) else raw
        return float(np.array([raw]).astype(np_dtype)[0])
    return float(raw)


def _repeated(b: bytes, number: int, wire: int, v):
    """Elements of one occurrence of a repeated numeric field, packed or not."""
    if number == 5:
        if wire == 5:
            return [struct.unpack_from("<f", b, v)[0]]
        if wire == 2:
            return list(struct.unpack_from(f"<{(v[1] - v[0]) // 4}f", b, v[0]))
    elif number == 6:
        if wire == 1:
            return [struct.unpack_from("<d", b, v)[0]]
        if wire == 2:
            return list(struct.unpack_from(f"<{(v[1] - v[0]) // 8}d", b, v[0]))
    else:  # varint lists
        if wire == 0:
            return [v]
        if wire == 2:
            out, pos = [], v[0]
            while pos < v[1]:
                x, pos = _varint(b, pos)
                out.append(x)
            return out
    return []
