"""Runs that live in object storage or on the web (`s3://`, `gs://`, `hf://`, `http(s)://`...).

fsspec lists the run folder; only the files some source will read are copied into a
temporary folder (the same discovery table as a local run decides which), the copy is read
as a local run and then deleted. Nothing is ever written to the remote: the only calls made
on it are listing, `info` and reading. Credentials and endpoints come from where each
filesystem normally takes them (`AWS_*` variables and `~/.aws` for s3fs, `HF_TOKEN` for
`hf://`, fsspec's `FSSPEC_<PROTOCOL>_<OPTION>` variables).

Needs fsspec plus the protocol's own package (`s3fs`, `gcsfs`, `huggingface_hub`,
`aiohttp`): the optional extra `hnet-diag[remote]` installs the S3 one.
"""
from __future__ import annotations

import fnmatch
import os
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from ..errors import InputError
from .readers import READERS, SKIP_DIRS

#: "<scheme>://" with a scheme of two letters or more (a Windows drive `C:` is not remote)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
#: read beside a file the discovery table matches: DCP chunk files
EXTRA_PATTERNS = ("*.distcp",)


def is_remote(path: Any) -> bool:
    return isinstance(path, str) and bool(_URL.match(path)) and not path.startswith("file://")


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError as err:
        raise InputError(url, "remote paths need fsspec (pip install 'hnet-diag[remote]')") from err
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as err:  # unknown protocol, or its package is missing
        raise InputError(url, f"cannot open this kind of remote path ({_one_line(err)})") from err


def needed(rel: str) -> bool:
    """Whether a file (path relative to the run root) is one some source reads."""
    parts = PurePosixPath(rel).parts
    if any(p in SKIP_DIRS or p.startswith(".") for p in parts[:-1]):
        return False
    name = parts[-1]
    if any(fnmatch.fnmatch(name, pat) for pat in EXTRA_PATTERNS):
        return True
    if "metrics" in parts[:-1] or "params" in parts[:-1]:  # MLflow file-store values have no extension
        return True
    return any(fnmatch.fnmatch(name, pattern) for pattern, _, _ in READERS)


def fetch(url: str, dest: Path) -> tuple[list[str], bool]:
    """Copy the files of the run at `url` that a source reads into `dest`.

    Returns their paths relative to `dest`, and whether `url` named a single file.
    """
    fs, root = _filesystem(url)
    root = root.rstrip("/")
    try:
        info = fs.info(root)
    except FileNotFoundError as err:
        raise InputError(url, "no such remote file or folder") from err
    except Exception as err:  # noqa: BLE001 - every filesystem raises its own errors (auth, network)
        raise InputError(url, f"cannot reach ({_one_line(err)})") from err
    single = info.get("type") != "directory"
    if single:
        rels = [PurePosixPath(root).name]
        remote = [root]
    else:
        try:
            listing = fs.find(root, detail=False)
        except Exception as err:  # noqa: BLE001
            raise InputError(url, f"cannot list ({_one_line(err)})") from err
        rels, remote = [], []
        for path in sorted(listing):
            rel = PurePosixPath(path).relative_to(PurePosixPath(root)).as_posix()
            if needed(rel):
                rels.append(rel)
                remote.append(path)
    if not rels:
        raise InputError(url, "no training artefacts found (no event files, metric logs, configs or checkpoints)")
    local = [str(dest / rel) for rel in rels]
    for path in local:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        fs.get(remote, local)
    except Exception as err:  # noqa: BLE001
        raise InputError(url, f"download failed ({_one_line(err)})") from err
    return rels, single


def load_run(url: str, settings: Any = None, *, load_local: Callable[..., Any]) -> Any:
    """Read a remote run: fetch what is needed into a temporary folder, read it with
    `load_local` (discover.load_run, handed in so this module does not import it back),
    delete it."""
    from ..run import Run
    from ..settings_file import DEFAULTS, as_settings

    # a remote run has no folder above it to look in, and the current directory plays no
    # part: the defaults, unless the caller hands settings in
    settings = DEFAULTS if settings is None else as_settings(settings, url)
    tmp = Path(tempfile.mkdtemp(prefix="hnet-diag-remote-"))
    url = url.rstrip("/")
    try:
        rels, single = fetch(url, tmp)
        run: Run = load_local(tmp / rels[0] if single else tmp, settings=settings)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = url.rsplit("/", 1)[0] if single else url
    run.path = Path(url)
    run.checkpoints = [replace(c, path=_swap(c.path, str(tmp), base)) for c in run.checkpoints]
    return run


def _swap(path: str, prefix: str, base: str) -> str:
    if path.startswith(prefix):
        rest = path[len(prefix):].lstrip(os.sep)
        return f"{base}/{rest}" if rest else base
    return path


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0][:200] if text else type(err).__name__)
