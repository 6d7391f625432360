"""Hugging Face shard indexes (`*.safetensors.index.json`, `*.bin.index.json`): which shard
files an index names.

Both the checkpoint reader (a shard named by an index is not read on its own) and the
sharded reader (which reads the shards through their index) ask this; it lives apart so
neither imports the other for it.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .untrusted import json_loads, read_text

#: file-name patterns of shard indexes (diffusers and others prefix the model name)
INDEX_PATTERNS = ("*.safetensors.index.json", "*.bin.index.json")


def listed_shard(path: Path) -> bool:
    """True when `path` is a shard named by an index beside it (read through that index)."""
    for index in (i for pattern in INDEX_PATTERNS for i in sorted(path.parent.glob(pattern))):
        if index.is_file():
            try:
                names = weight_map(index)
            except InputError:
                continue
            if path.name in set(names.values()):
                return True
    return False


def weight_map(index: Path) -> dict[str, str]:
    """tensor name -> shard file of an index; InputError when unreadable or naming a file
    outside its folder."""
    try:
        doc = json_loads(read_text(index, "config"))  # bounded, regular files only, never RecursionError
    except (OSError, UnicodeDecodeError, ValueError, InputError) as err:
        if isinstance(err, InputError):
            raise
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise InputError(index, f"unreadable shard index ({detail})") from err
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()):
        raise InputError(index, "shard index has no weight_map of tensor name -> shard file")
    for shard in set(weight_map.values()):
        if Path(shard).name != shard:
            raise InputError(index, f"shard index names a file outside its folder ({shard!r}); not read")
    return weight_map

