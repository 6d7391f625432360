"""Sharded checkpoints: Hugging Face index + shards, and torch.distributed.checkpoint folders.

A model too big for one file is saved in pieces, and the diagnosis must not depend on how it
was cut: every layout gives the same per-tensor statistics as the unsharded file of the same
weights (computed by `checkpoint.tensor_stats`, one tensor at a time).

- **Hugging Face** (`model.safetensors.index.json` or `pytorch_model.bin.index.json`, written by
  `save_pretrained` / `huggingface_hub.save_torch_state_dict`): the index's `weight_map` names
  the shard of each tensor. The shards are opened with safetensors or with
  `torch.load(weights_only=True, mmap=True)` and summarised as one checkpoint; the index file
  stands for the folder's weights, so `optimizer.pt` / `scheduler.pt` beside it are folded in
  as for an unsharded Trainer checkpoint. Shards named by an index are not read on their own.
- **torch.distributed.checkpoint** (DCP: `.metadata` + `*.distcp`): the metadata lists every
  entry of the flattened state dict with its chunks (one per rank that held a piece) and
  where each chunk's bytes lie. Its pickle is read with an allow-list unpickler (torch's own
  reader would fully unpickle it, which could run code). Each chunk is a `torch.save` blob
  read with `weights_only=True`. A tensor stored as one chunk is measured as loaded; a tensor
  split over ranks is assembled into one buffer first, so memory stays at the largest tensor
  plus one chunk. Non-tensor entries (param groups, step, config) are loaded the same safe way.
"""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

from ..errors import InputError, UnsafeCheckpointError
from ..run import CheckpointSummary, LoadWarning
from . import checkpoint as ck
from .base import SourceData
from .shard_index import weight_map as _weight_map
from .stage_map import locate
from .untrusted import open_regular

#: index file name -> shard format
INDEX_FILES = {"model.safetensors.index.json": "safetensors", "pytorch_model.bin.index.json": "torch"}


# -- Hugging Face index + shards ----------------------------------------------------------------
def read_index(index: Path) -> SourceData:
    """Summarise the weights named by a Hugging Face shard index as one checkpoint."""
    index = Path(index)
    weight_map = _weight_map(index)
    shards = sorted(set(weight_map.values()))
    missing = [s for s in shards if not (index.parent / s).is_file()]
    if missing:
        raise InputError(index, f"shard index names missing file(s): {', '.join(missing[:3])}")
    data = SourceData()
    if index.name.endswith(".safetensors.index.json"):
        summary = _safetensors_shards(index, shards)
        _, summary = ck._fold_hf_parts(index, None, summary, data)
        data.checkpoints.append(summary)
        return data
    merged: dict[str, Any] = {}
    for shard in shards:  # mmap: the shards cost page cache, not process memory
        part = ck._torch_load(index.parent / shard, mmap=ck._sniff(index.parent / shard) == "zip")
        if not isinstance(part, dict):
            raise InputError(index.parent / shard, f"not a state-dict shard (holds a {type(part).__name__})")
        merged.update(part)
    obj, _ = ck._fold_hf_parts(index, merged, None, data)
    summary, warnings = ck.summarize(obj, index)
    data.warnings.extend(warnings)
    data.checkpoints.append(summary)
    return data


def _safetensors_shards(index: Path, shards: list[str]) -> CheckpointSummary:
    """Per-tensor statistics over all shards, in name order like an unsharded safetensors file."""
    parts = []
    for shard in shards:
        part = ck._read_safetensors(index.parent / shard)
        parts.extend(part.tensors)
    tensors = tuple(sorted(parts, key=lambda t: t.name))
    return CheckpointSummary(path=str(index), step=ck._step_from_name(index), tensors=tensors, format="safetensors")


# -- torch.distributed.checkpoint ----------------------------------------------------------------
#: what a DCP `.metadata` pickle may name; anything else is refused unexecuted
_ALLOWED = {
    "torch.distributed.checkpoint.metadata": {
        "Metadata", "MetadataIndex", "ChunkStorageMetadata", "TensorStorageMetadata", "BytesStorageMetadata",
        "TensorProperties", "StorageMeta", "_MEM_FORMAT_ENCODING",
    },
    "torch.distributed.checkpoint.filesystem": {"_StorageInfo"},
    "torch.distributed.checkpoint.planner": {"LoadItemType", "WriteItemType"},
    "torch.serialization": {"_get_layout"},
    "torch": {"Size", "device"},
    "pathlib": {"PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath", "Path"},
    "collections": {"OrderedDict"},
    "builtins": {"set", "frozenset", "tuple", "list", "dict", "slice"},
}


class _MetadataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        import torch

        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if name in _ALLOWED.get(module, ()):
            if module.startswith("torch.distributed"):
                import torch.distributed.checkpoint.filesystem  # noqa: F401 - registers the classes
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"Unsupported global: GLOBAL {module}.{name}")


def _read_metadata(path: Path) -> Any:
    try:
        with open_regular(path) as fh:
            md = _MetadataUnpickler(fh).load()
    except pickle.UnpicklingError as err:
        if "Unsupported global" in str(err):
            raise UnsafeCheckpointError(path, f"refused: would run code ({str(err).rsplit(' ', 1)[-1]}); not executed") from err
        raise InputError(path, f"corrupt DCP metadata ({ck._first_line(err)})") from err
    except Exception as err:  # noqa: BLE001 - any unpickling failure is damage
        raise InputError(path, f"corrupt DCP metadata ({type(err).__name__}: {ck._first_line(err)})") from err
    for attr in ("state_dict_metadata", "storage_data"):
        if not isinstance(getattr(md, attr, None), dict):
            raise InputError(path, f"not DCP metadata (no {attr})")
    return md


class _Chunks:
    """Reads chunk blobs of one DCP folder, keeping at most one file open."""

    def __init__(self, folder: Path, storage: dict):
        self.folder = folder
        self.storage = {(k.fqn, tuple(k.offset) if k.offset is not None else None): v for k, v in storage.items()}
        self._name: str | None = None
        self._fh: Any = None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _blob(self, fqn: str, offset: tuple[int, ...] | None) -> tuple[bytes, Path]:
        info = self.storage.get((fqn, offset))
        if info is None:
            raise InputError(self.folder / ".metadata", f"no storage entry for {fqn!r}")
        rel = str(info.relative_path)
        if Path(rel).name != rel:
            raise InputError(self.folder / ".metadata", f"storage entry points outside the folder ({rel!r}); not read")
        if getattr(info, "transform_descriptors", None):
            raise InputError(self.folder / rel, f"{fqn}: transformed (e.g. compressed) DCP storage is not supported")
        if self._name != rel:
            self.close()
            try:
                self._fh = open_regular(self.folder / rel)  # a FIFO named by the metadata must not block
            except OSError as err:
                raise InputError(self.folder / rel, f"cannot read ({err.strerror})") from err
            self._name = rel
        size = os.fstat(self._fh.fileno()).st_size
        if not 0 <= int(info.offset) <= size or not 0 <= int(info.length) <= size - int(info.offset):
            raise InputError(self.folder / rel, f"truncated: {fqn} needs {info.length} bytes at offset {info.offset}")
        self._fh.seek(int(info.offset))
        blob = self._fh.read(int(info.length))
        if len(blob) != int(info.length):
            raise InputError(self.folder / rel, f"truncated: {fqn} needs {info.length} bytes at offset {info.offset}")
        return blob, self.folder / rel

    def load(self, fqn: str, offset: tuple[int, ...] | None) -> Any:
        import torch

        blob, where = self._blob(fqn, offset)
        try:
            return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - an unpickling failure is damage or danger
            raise InputError(where, f"{fqn}: unreadable DCP entry ({ck._first_line(err)})") from err

    def tensor(self, fqn: str, md: Any) -> Any:
        """The whole tensor `fqn`, assembled from its chunks."""
        import torch

        chunks = list(md.chunks)
        size = tuple(md.size)
        if len(chunks) == 1 and tuple(chunks[0].sizes) == size:
            return self.load(fqn, tuple(chunks[0].offsets))
        dtype = getattr(md.properties, "dtype", torch.float32)
        full = torch.empty(size, dtype=dtype)
        for chunk in chunks:
            part = self.load(fqn, tuple(chunk.offsets))
            view = full
            for dim, (o, s) in enumerate(zip(chunk.offsets, chunk.sizes)):
                view = view.narrow(dim, int(o), int(s))
            view.copy_(part.reshape(view.shape))
            del part
        return full


def read_dcp(metadata_path: Path) -> SourceData | None:
    """Summarise a torch.distributed.checkpoint folder (given its `.metadata` file)."""
    from torch.distributed.checkpoint.metadata import BytesStorageMetadata, TensorStorageMetadata

    metadata_path = Path(metadata_path)
    folder = metadata_path.parent
    if not any(folder.glob("*.distcp")):
        return None  # some other tool's `.metadata`: not ours to judge
    md = _read_metadata(metadata_path)
    paths: dict[str, tuple] = dict(getattr(md, "planner_data", None) or {})
    chunks = _Chunks(folder, md.storage_data)
    data = SourceData()
    tensors, moments = [], []
    groups: dict[int, dict[str, Any]] = {}
    extras: dict[str, Any] = {}
    try:
        for fqn, entry in md.state_dict_metadata.items():
            path = tuple(paths.get(fqn) or (fqn,))
            role, rest = _role(path)
            if isinstance(entry, TensorStorageMetadata):
                if role == "model":
                    t = chunks.tensor(fqn, entry)
                    tensors.append(ck.tensor_stats(_dotted(rest), t))
                    del t
                elif role == "optimizer" and len(rest) >= 3 and rest[0] == "state":
                    param, key = _dotted(rest[1:-1]), str(rest[-1])
                    if key == "step":
                        extras.setdefault("adam_step", ck._int_or_none(chunks.tensor(fqn, entry)))
                    elif entry.size and len(entry.size) > 0:
                        t = chunks.tensor(fqn, entry)
                        where = locate(param) if not param.isdigit() else (None, "other")
                        moments.append(ck.tensor_stats(f"{param}.{key}" if not param.isdigit() else f"param{param}.{key}", t, where))
                        del t
                elif role == "top" and tuple(entry.size) == ():
                    _set(extras, rest, chunks.tensor(fqn, entry))
            elif isinstance(entry, BytesStorageMetadata):
                if role == "optimizer" and len(rest) == 3 and rest[0] == "param_groups":
                    groups.setdefault(int(rest[1]), {})[str(rest[2])] = chunks.load(fqn, None)
                elif role == "top" and rest:
                    _set(extras, rest, chunks.load(fqn, None))
    finally:
        chunks.close()
    step = next((ck._int_or_none(extras[k]) for k in ck.STEP_KEYS if ck._int_or_none(extras.get(k)) is not None), None)
    if step is None:
        step = ck._step_from_name(folder / "x")
    if step is None:
        step = extras.get("adam_step")
    configs = {k: ck._plain(v) for k, v in extras.items() if k in ck.CONFIG_KEYS and isinstance(v, dict)}
    config = next(iter(configs.values())) if len(configs) == 1 else (configs or None)
    param_groups = tuple(ck._group_summary(groups[i]) for i in sorted(groups))
    if not tensors and not moments:
        data.warnings.append(LoadWarning(str(metadata_path), "DCP checkpoint holds no model tensors"))
    data.checkpoints.append(CheckpointSummary(
        path=str(folder), step=step, config=config, param_groups=param_groups, tensors=tuple(tensors),
        optimizer_moments=tuple(moments), format="dcp",
    ))
    return data


def _role(path: tuple) -> tuple[str, tuple]:
    """Which part of a checkpoint a flattened DCP entry belongs to, and its path inside it."""
    head = str(path[0])
    if head in ck.MODEL_KEYS and len(path) > 1:
        return "model", path[1:]
    if head in ck.OPTIMIZER_KEYS and len(path) > 1:
        return "optimizer", path[1:]
    if len(path) == 1 and head not in ck.STEP_KEYS + ck.CONFIG_KEYS:
        return "model", path  # a plain state dict saved as is
    return "top", path


def _dotted(parts: tuple) -> str:
    return ".".join(str(p) for p in parts)


def _set(tree: dict, path: tuple, value: Any) -> None:
    """Put a leaf back where the flattened path says (config dicts come back nested)."""
    for key in path[:-1]:
        nxt = tree.get(str(key))
        if not isinstance(nxt, dict):
            nxt = tree[str(key)] = {}
        tree = nxt
    tree[str(path[-1])] = value
