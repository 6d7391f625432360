"""Run config files (JSON, YAML, argparse dumps), each read into a plain mapping.

`read(path)` parses one file into a mapping, kept raw in `Run.configs`; turning all of a
run's mappings into typed settings, and which file wins, is `sources.run_settings`.

Formats understood:
- JSON and YAML mappings, nested or flat.
- argparse dumps: `Namespace(lr=0.001, name='x')` text, `key: value` / `key=value` lines,
  or a command line `--lr 1e-3 --batch-size 32` (`args.txt`, `hparams.txt`, `*.args`);
  Lightning `hparams.yaml` including its `!!python/...` tags (read as plain data, never
  constructed); Weights & Biases `config.yaml` (`{key: {value: ...}}` is unwrapped).
- Hugging Face `config.json`, `training_args.json`, `generation_config.json`.
- The official H-Net model config (`arch_layout`, per-stage `d_model`, `d_intermediate`,
  `attn_cfg`...) at the top level or under `model:`, and our reference trainer's
  `config.json` = {"model": <H-Net config>, "training": {...}} and `generation.json`; a
  malformed `arch_layout` is an error naming the file.
A file that is not named like a config is kept only when it looks like one (a known
setting key, no logged metric): a `results.json` of metrics is data, not a config.
"""
from __future__ import annotations

import ast
import json
import re
import shlex
import warnings
from pathlib import Path, PurePath
from typing import Any, Iterator

from ..errors import InputError
from ..arch_layout import show_value
from ..metrics import canonical_name
from .base import SourceData
from .run_settings import (
    GENERATION_ALIASES,
    GENERATION_SECTIONS,
    MODEL_SECTIONS,
    PRIMARY_STEMS,
    TRAINING_ALIASES,
    describe_layout,
    find_hnet_config,
    norm_key,
)
from .untrusted import MAX_DEPTH, check_regular, check_tree, json_loads, read_text

_CONFIG_STEM_ENDINGS = ("config", "args", "hparams", "params", "cfg", "settings")
_MAX_UNNAMED_BYTES = 16 << 20  # a large JSON that is not named like a config is data, not a config
_KNOWN_KEYS = ({a for al in TRAINING_ALIASES.values() for a in al} | {a for al in GENERATION_ALIASES.values() for a in al}
               | {"arch_layout", "d_model", "seed", "optimizer", "training", "train"} | set(MODEL_SECTIONS) | set(GENERATION_SECTIONS))
_METRIC_NAMES = {"loss", "val_loss", "bpb", "val_bpb"}


# ======================================================================================
# reading one file
# ======================================================================================
def read(path: Path) -> SourceData | None:
    """Parse one config file; None when the file is evidently not a config (a metrics dump)."""
    path = Path(path)
    named = is_config_name(path)
    suffix = path.suffix.lower()
    if check_regular(path).st_size > _MAX_UNNAMED_BYTES and not named:
        return None
    text = read_text(path, "config" if suffix in (".json", ".yaml", ".yml") else "args")
    if suffix == ".json":
        obj = _load_json(path, text)
    elif suffix in (".yaml", ".yml"):
        obj = _load_yaml(path, text)
    else:
        obj = parse_args_text(text)
    try:  # before anything walks or prints it: a YAML alias bomb is small on disk, huge expanded
        check_tree(obj)
    except ValueError as err:
        raise InputError(path, f"config {err}; not read") from err
    if obj is None or obj == {}:
        if named and suffix in (".json", ".yaml", ".yml") and not text.strip():
            raise InputError(path, "empty config file")
        return None
    obj = _unwrap_wandb(obj)
    if not isinstance(obj, dict):
        if named:
            raise InputError(path, f"config is not a mapping (holds a {type(obj).__name__})")
        return None
    if not named and not _looks_like_config(obj):
        return None
    hnet = find_hnet_config(obj)
    if hnet is not None:
        try:
            describe_layout(hnet["arch_layout"], hnet.get("d_intermediate"))
        except ValueError as err:
            raise InputError(path, f"invalid arch_layout {_show(hnet['arch_layout'])}: {err}") from err
    data = SourceData()
    data.configs[str(path)] = obj
    return data


def is_config_name(path: Path | str) -> bool:
    """Whether the file name says it is a config (then a non-mapping content is an error)."""
    p = PurePath(path)
    stem = p.stem.lower()
    return p.suffix.lower() == ".args" or stem in PRIMARY_STEMS or stem.startswith("generation") \
        or stem.endswith(_CONFIG_STEM_ENDINGS)


def _load_json(path: Path, text: str) -> Any:
    try:
        return json_loads(text)
    except json.JSONDecodeError as err:
        raise InputError(path, f"malformed JSON (line {err.lineno}: {err.msg})") from err
    except ValueError as err:  # nested too deeply, an integer past Python's digit limit
        raise InputError(path, f"malformed JSON ({err})") from err


def _load_yaml(path: Path, text: str) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_data_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputError(path, f"malformed YAML ({where}{problem})") from err
    except RecursionError as err:  # the composer recurses once per nesting level
        raise InputError(path, f"malformed YAML (nested deeper than the parser allows; {MAX_DEPTH} levels are accepted)") from err
    except (ValueError, TypeError, OverflowError) as err:  # a scalar the constructor cannot build (a 5,000-digit int)
        raise InputError(path, f"malformed YAML ({type(err).__name__}: {str(err).splitlines()[0][:200] if str(err).strip() else 'no detail'})") from err


_LOADER: Any = None


def _data_loader() -> Any:
    """A SafeLoader that reads `!!python/object:...` and other unknown tags as plain data.

    Lightning writes `hparams.yaml` with such tags (argparse Namespaces, tuples); the safe
    loader rejects them, the unsafe one would construct the objects. Reading the tagged
    node as the mapping, list or string it is gives the values without running anything.
    """
    global _LOADER
    if _LOADER is None:
        import yaml

        class DataLoader(yaml.SafeLoader):
            pass

        def untagged(loader: Any, _suffix: str, node: Any) -> Any:
            if isinstance(node, yaml.MappingNode):
                return loader.construct_mapping(node, deep=True)
            if isinstance(node, yaml.SequenceNode):
                return loader.construct_sequence(node, deep=True)
            return loader.construct_scalar(node)

        DataLoader.add_multi_constructor("", untagged)
        _LOADER = DataLoader
    return _LOADER


def _unwrap_wandb(obj: Any) -> Any:
    """W&B `config.yaml` stores {key: {desc: ..., value: ...}}; keep the values."""
    if isinstance(obj, dict) and obj:
        wrapped = [v for v in obj.values() if isinstance(v, dict) and "value" in v and set(v) <= {"value", "desc"}]
        if len(wrapped) >= max(1, len(obj) // 2):
            return {k: (v["value"] if isinstance(v, dict) and "value" in v and set(v) <= {"value", "desc"} else v)
                    for k, v in obj.items() if not str(k).startswith("_wandb")}
    return obj


def _looks_like_config(obj: dict) -> bool:
    """A mapping with a known setting key and no logged metric is a config."""
    keys = {norm_key(k) for k in obj}
    for v in obj.values():
        if isinstance(v, dict):
            keys |= {norm_key(k) for k in v}
    if any(canonical_name(k) in _METRIC_NAMES for k in keys):
        return False
    return bool(keys & _KNOWN_KEYS)


# -- argparse dumps -------------------------------------------------------------------------
def parse_args_text(text: str) -> dict[str, Any] | None:
    """`Namespace(a=1, b='x')`, `key: value` / `key=value` lines, or `--key value` flags."""
    text = text.strip()
    if not text:
        return None
    start = text.find("Namespace(")  # not a regex: `Namespace\((.*)\)$` backtracks per occurrence
    if start >= 0 and text.endswith(")"):
        return dict(_keyword_pairs(text[start + len("Namespace("):-1]))
    pairs = {}
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for line in lines:
        kv = re.match(r"^-{0,2}([A-Za-z_][\w.\-]*)\s*[:=]\s*(.*)$", line)
        if kv:
            pairs[kv.group(1)] = _literal(kv.group(2))
    if pairs and len(pairs) >= len(lines) / 2:
        return pairs
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError:
        return None
    flags: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and len(tok) > 2:
            key, eq, value = tok[2:].partition("=")
            if eq:
                flags[key] = _literal(value)
            elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                flags[key] = _literal(tokens[i + 1])
                i += 1
            else:
                flags[key] = True
        i += 1
    return flags or None


def _keyword_pairs(inner: str) -> Iterator[tuple[str, Any]]:
    """Split `a=1, b=[1, 2], c='x,y'` at top-level commas."""
    depth, quote, start = 0, "", 0
    parts = []
    for i, ch in enumerate(inner):
        if quote:
            if ch == quote and inner[i - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    for part in parts:
        key, eq, value = part.partition("=")
        if eq and key.strip().isidentifier():
            yield key.strip(), _literal(value)


def _literal(text: str) -> Any:
    text = text.strip()
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" in a dumped regex is not the user's problem
            warnings.simplefilter("ignore")
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null", "~"):
        return None
    return text.strip("'\"")


_show = show_value  # bounded: never expands a huge value to cut it afterwards
