"""Reading files nobody vouches for: every byte of a run folder is untrusted input.

Run folders come from colleagues, CI artefacts, downloads and half-written jobs. Every
reader opens its files through this module, so the promises hold in one place:

* Only regular files are opened. A FIFO blocks forever in `open()`, a character device
  (`/dev/zero`, `/dev/urandom`) never ends; both are refused from `stat` before opening,
  and the opened descriptor is checked again (`fstat`) so a swap in between changes nothing.
* Each kind of file has a size limit (`READ_LIMITS`), checked before reading and enforced
  while reading (a file that grows is cut at the limit and refused).
* Parsed JSON/YAML/config trees are bounded: at most `MAX_DEPTH` levels and `MAX_NODES`
  values counted with repetition, so a YAML alias bomb or a checkpoint config made of
  shared references (a "billion laughs") is refused before anything walks or prints it.
* Numbers from files are converted with checks (`checked_float`, `checked_step`): a step
  that is NaN, infinite, fractional-huge or beyond int64 is not a step, a 400-digit
  integer is a float (inf), never an OverflowError.
* Symlinks that resolve outside the run folder are not followed for text and config files
  unless the caller allows it (`external_link`), so `args.txt -> /etc/passwd` never ends
  up in a shared report.

Every refusal is an InputError naming the file, worded once here ("cannot read
(Permission denied)", "not a regular file (FIFO); not read", ...).
"""
from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from ..errors import InputError

MiB = 1 << 20
#: largest file read, per kind of file (bytes); documented in the README's security note
READ_LIMITS: dict[str, int] = {
    "config": 32 * MiB,  # JSON / YAML configs
    "args": 4 * MiB,  # argparse dumps (args.txt, hparams.txt, *.args)
    "trainer_state": 512 * MiB,  # Hugging Face trainer_state.json (log_history grows with the run)
    "jsonl": 4096 * MiB,  # metric logs, read line by line
    "csv": 4096 * MiB,
    "settings": 4 * MiB,  # hnet-diag.toml / pyproject.toml
}
#: nesting levels and values (counted with repetition) a parsed config may hold
MAX_DEPTH = 64
MAX_NODES = 1_000_000
#: a CSV header longer than this, or with more columns, is not a metric log
MAX_CSV_HEADER_BYTES = 1 * MiB
MAX_CSV_COLUMNS = 10_000
#: integers in JSON with more digits than this are read as floats (int64 has 19)
_MAX_INT_DIGITS = 20
_INT64 = 1 << 63

_KINDS = (
    (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"), (stat.S_ISDIR, "folder"),
)


def cannot_read(path: str | Path, err: OSError) -> InputError:
    """The one wording of an OS error on a file: `cannot read (Permission denied)`."""
    return InputError(path, f"cannot read ({err.strerror or type(err).__name__})")


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "special file")


def check_regular(path: str | Path) -> os.stat_result:
    """stat() the file (following links) and refuse anything but a regular file."""
    try:
        st = os.stat(path)
    except OSError as err:
        raise cannot_read(path, err) from err
    if not stat.S_ISREG(st.st_mode):
        raise InputError(path, f"not a regular file ({_kind(st.st_mode)}); not read")
    return st


def open_regular(path: str | Path, kind: str | None = None):
    """A binary file object for a regular file within its kind's size limit.

    Opened non-blocking (a FIFO swapped in after the stat cannot block) and checked again
    on the descriptor itself.
    """
    st = check_regular(path)
    limit = READ_LIMITS.get(kind) if kind else None
    if limit is not None and st.st_size > limit:
        raise too_large(path, kind)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as err:
        raise cannot_read(path, err) from err
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(path, f"not a regular file ({_kind(os.fstat(fd).st_mode)}); not read")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def too_large(path: str | Path, kind: str) -> InputError:
    return InputError(path, f"larger than the {READ_LIMITS[kind] // MiB} MiB limit for a {kind.replace('_', ' ')} file; not read")


def read_bytes(path: str | Path, kind: str) -> bytes:
    """The whole file, at most READ_LIMITS[kind] bytes (a file still growing past it is refused)."""
    limit = READ_LIMITS[kind]
    try:
        with open_regular(path, kind) as fh:
            data = fh.read(limit + 1)
    except OSError as err:
        raise cannot_read(path, err) from err
    if len(data) > limit:
        raise too_large(path, kind)
    return data


def read_text(path: str | Path, kind: str) -> str:
    """The file as text: UTF-8, a byte-order mark dropped, undecodable bytes replaced."""
    return read_bytes(path, kind).decode("utf-8-sig", errors="replace")


# -- symlinks -------------------------------------------------------------------------------
def external_link(path: str | Path, root: str | Path) -> str | None:
    """Where `path` leads when a symlink on the way takes it outside `root`, else None.

    `root` is the run folder; a link inside it to another file inside it is fine.
    """
    p = Path(path)
    try:
        real_root = Path(root).resolve()
        target = p.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return str(p)
    try:
        target.relative_to(real_root)
    except ValueError:
        return str(target)
    return None


# -- numbers --------------------------------------------------------------------------------
def checked_float(value: Any) -> float | None:
    """A number, numeric string or 'nan'/'inf' -> float; anything else (or unconvertible) -> None.

    A 400-digit integer is `inf`, not an OverflowError; a bool is 0.0 or 1.0.
    """
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 400 and not text.lstrip("+-").isdigit():
            return None  # no float literal is that long except a run of digits
        try:
            return float(text)
        except (ValueError, OverflowError):
            return None
    return None


def checked_step(value: Any) -> int | None:
    """A step counter -> int, or None when it is not one (NaN, inf, negative-huge, beyond int64)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else None
    f = checked_float(value)
    if f is None or not math.isfinite(f) or not -_INT64 <= f < _INT64:
        return None
    return int(f)


def _json_int(text: str) -> int | float:
    """JSON integers: exact up to 20 digits, longer ones as float (inf when past float range)."""
    return int(text) if len(text) <= _MAX_INT_DIGITS else float(text)


def json_loads(text: str | bytes) -> Any:
    """json.loads that never raises anything but ValueError (too deep, too long a number...)."""
    try:
        return json.loads(text, parse_int=_json_int)
    except RecursionError as err:
        raise ValueError(f"nested deeper than the parser allows ({MAX_DEPTH} levels are accepted)") from err


def check_tree(obj: Any, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Raise ValueError when a parsed tree is deeper or (counted with repetition) larger than allowed.

    Iterative, and counting every visit, so a tree of shared references (a YAML alias bomb)
    is caught after `max_nodes` steps instead of expanding to gigabytes in whatever walks
    or prints it next.
    """
    stack: list[tuple[Any, int]] = [(obj, 0)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise ValueError(f"holds more than {max_nodes:,} values (counting repeated references)")
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth >= max_depth:
            raise ValueError(f"nested deeper than {max_depth} levels")
        stack.extend((c, depth + 1) for c in children)
