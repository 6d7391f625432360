"""Checkpoints (`.pt`, `.pth`, `.bin`, `.ckpt`, `.safetensors`) summarised without keeping tensors.

Safety first: torch files are opened with `torch.load(weights_only=True)`, which only
rebuilds tensors and plain containers. A file that would need full unpickling (a pickled
class, a function) could run arbitrary code, so it is refused with UnsafeCheckpointError
("refused: would run code (posix.system)") and never executed. The callable is named from
the pickle's own opcodes (torch's message can misname it, e.g. `commands.Popen` for
`subprocess.Popen`), and the message never suggests `weights_only=False`. torch's own
warnings while loading (TypedStorage deprecation, quantized tensors, "Detected pickle
protocol") are silenced: they are about torch, not about the run. Files are memory-mapped (`mmap=True`) so a multi-GB checkpoint costs
no more RAM than the tensor being measured; old non-zip torch files cannot be mapped and
are read whole.

What a checkpoint may hold, in the layouts met in practice:
- a plain state_dict (official H-Net checkpoints, `torch.save(model.state_dict())`);
- a dict with `model`/`state_dict`/`model_state_dict`, `optimizer`/`optimizer_state_dict`,
  `scheduler`/`lr_scheduler`, `step`/`global_step`/`iter_num`, `config`/`args`/`model_args`
  (nanoGPT, our reference trainer, most hand-written loops);
- Lightning: `state_dict`, `optimizer_states` (list), `lr_schedulers` (list),
  `global_step`, `hyper_parameters`, and `callbacks` (each callback's state by its key, e.g.
  EarlyStopping's wait_count / patience / stopped_epoch: kept as scalars);
- a bare optimizer state dict (Hugging Face `optimizer.pt`). In a Hugging Face
  `checkpoint-N/` folder with one weights file, `optimizer.pt` and `scheduler.pt` are folded
  into that file's summary (one summary per checkpoint); `rng_state*.pth` is skipped.

The step is the one stored in the file (`step`, `global_step`, `iter_num`...), else the
number in the file or folder name (`step_000500.pt`, `checkpoint-500/`), else Adam's own
step count.

Statistics are computed one tensor at a time, in float64 chunks of `CHUNK` elements, so the
extra memory is one chunk whatever the tensor size. Norm, max |x|, mean and std are over
the finite entries; `nan_count` and `inf_count` say how many were left out, so a single Inf
does not hide the scale of everything else. std is the population std (ddof=0).
A tensor whose strides repeat elements (`torch.zeros(1).expand(2**40)`, stride 0) is
measured on its distinct elements and the sums are scaled by the repeat count, which is
exact; a tensor with overlapping non-zero strides cannot be measured that way and gets
NaN statistics. Configs stored in a checkpoint are bounded like config files (depth,
values counted with repetition): a tree of shared references is dropped with a warning.
"""
from __future__ import annotations

import math
import pickletools
import re
import sys
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError, UnsafeCheckpointError
from ..run import CheckpointSummary, LoadWarning, TensorStats
from .base import STEP_KEYS, SourceData, to_int
from .stage_map import locate
from .untrusted import check_tree, checked_step, json_loads, open_regular

#: elements converted to float64 at a time (8 MB)
CHUNK = 1 << 20
#: embedding matrices with at most this many rows also get per-row norms (TensorStats.row_norms)
ROW_LIMIT = 4096

MODEL_KEYS = ("model", "state_dict", "model_state_dict", "module", "net", "network")
OPTIMIZER_KEYS = ("optimizer", "optimizer_state_dict", "optim", "optimizer_state")
SCHEDULER_KEYS = ("scheduler", "lr_scheduler", "scheduler_state_dict", "lr_scheduler_state_dict", "sched")
CONFIG_KEYS = ("config", "args", "model_args", "model_config", "hparams", "hyper_parameters", "cfg", "train_config", "training_args")

# file names that hold no diagnosis (RNG states): skipped without a warning
_SKIP_NAMES = re.compile(r"rng_state.*\.pth?$")
_STEP_IN_NAME = re.compile(r"(?:step|iter|checkpoint|ckpt)[-_=]?(\d+)", re.IGNORECASE)
_MAX_LIST = 64  # scheduler / param-group lists longer than this are not "small scalars"


def read(path: Path) -> SourceData | None:
    """Summarise one checkpoint file; None when a `.bin` file is not a checkpoint at all."""
    path = Path(path)
    if _SKIP_NAMES.match(path.name):
        return None
    if path.name in HF_PARTS and _hf_model_file(path.parent) is not None:
        return None  # folded into the summary of the folder's model file (see _fold_hf_parts)
    from .shard_index import listed_shard

    if listed_shard(path):
        return None  # read with the other shards through their index (sources/sharded.py)
    kind = _sniff(path)
    if kind is None:
        if path.suffix == ".bin":  # e.g. nanoGPT's tokenised train.bin: not ours to judge
            return None
        raise InputError(path, "not a PyTorch or safetensors checkpoint (unrecognised file header)")
    data = SourceData()
    summary: CheckpointSummary | None = None
    obj: Any = None
    if kind == "safetensors":
        summary = _read_safetensors(path)
    else:
        obj = _torch_load(path, mmap=(kind == "zip"))
        if obj is None:  # torch.save(None, ...): a valid file holding nothing to summarise
            raise InputError(path, "not a checkpoint (holds None)")
    if _hf_model_file(path.parent) == path:
        obj, summary = _fold_hf_parts(path, obj, summary, data)
    if obj is not None:
        summary, found = summarize(obj, path)
        data.warnings.extend(found)
    data.checkpoints.append(summary)
    return data


# -- Hugging Face checkpoint folders -------------------------------------------------------
#: Trainer writes these beside the weights in checkpoint-N/; they describe the same checkpoint
HF_PARTS = ("optimizer.pt", "scheduler.pt")
HF_MODEL_FILES = ("pytorch_model.bin", "model.safetensors")
#: a sharded model's index stands for its weights file (sources/sharded.py)
HF_MODEL_FILES += ("pytorch_model.bin.index.json", "model.safetensors.index.json")


def _hf_model_file(folder: Path) -> Path | None:
    """The single weights file of a Hugging Face checkpoint folder, if there is exactly one."""
    found = [folder / n for n in HF_MODEL_FILES if (folder / n).is_file()]
    return found[0] if len(found) == 1 else None


def _fold_hf_parts(path: Path, obj: Any, summary: CheckpointSummary | None, data: SourceData) -> tuple[Any, Any]:
    """Merge `optimizer.pt` and `scheduler.pt` into the summary of the folder's weights file.

    One checkpoint folder then gives one CheckpointSummary (weights, param groups, moments,
    scheduler, step) instead of three partial ones. A damaged or unsafe part becomes a
    warning naming that part; the weights are still summarised.
    """
    parts: dict[str, Any] = {}
    for name, key in (("optimizer.pt", "optimizer"), ("scheduler.pt", "scheduler")):
        part = path.parent / name
        if not part.is_file():
            continue
        try:
            parts[key] = _torch_load(part, mmap=_sniff(part) == "zip")
        except InputError as err:
            data.warnings.append(LoadWarning(str(part), err.problem))
    if obj is not None:  # torch weights: the optimizer's parameters can be matched to their names
        return {"model": obj, **parts}, None
    if parts:  # safetensors stores names sorted, not in model order: moments keep index names
        extra, _ = summarize(parts, path)
        summary = replace(summary, param_groups=extra.param_groups, optimizer_moments=extra.optimizer_moments,
                          scheduler=extra.scheduler, step=summary.step if summary.step is not None else extra.step)
    return None, summary


# -- loading ------------------------------------------------------------------------------
def _sniff(path: Path) -> str | None:
    """"zip" (torch >= 1.6), "pickle" (legacy torch), "safetensors", or None."""
    try:
        with open_regular(path) as fh:
            head = fh.read(16)
            size = path.stat().st_size
    except OSError as err:
        raise InputError(path, f"cannot read ({err.strerror})") from err
    if not head:
        raise InputError(path, "empty file")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    if path.suffix == ".safetensors" or (len(head) >= 9 and head[8:9] == b"{"):
        header_len = int.from_bytes(head[:8], "little")
        if 0 < header_len < size:
            return "safetensors"
        if path.suffix == ".safetensors":
            raise InputError(path, f"corrupt safetensors file (header length {header_len} for a {size}-byte file)")
    return None


def _torch_load(path: Path, mmap: bool) -> Any:
    import pickle

    import torch

    if mmap:
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as err:
            raise InputError(path, f"corrupt or truncated torch checkpoint ({_first_line(err)})") from err
        if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
            raise InputError(path, "TorchScript archive, not a checkpoint (loading it would run its code); not read")
    try:
        with warnings.catch_warnings():  # torch's deprecation notes are not about the run
            warnings.simplefilter("ignore")
            return torch.load(path, weights_only=True, mmap=mmap, map_location="cpu")
    except pickle.UnpicklingError as err:
        needed = _refused_global(path, err)
        if needed and not _is_missing_attribute(needed):
            raise UnsafeCheckpointError(path, f"refused: would run code ({needed}); not executed") from err
        raise InputError(path, f"corrupt or truncated torch checkpoint ({_damage(err)})") from err
    except RuntimeError as err:
        if mmap and "mmap" in str(err):
            return _torch_load(path, mmap=False)
        raise InputError(path, f"corrupt or truncated torch checkpoint ({_damage(err)})") from err
    except Exception as err:  # noqa: BLE001 - any other failure of the unpickler means a damaged file
        raise InputError(path, f"corrupt or truncated torch checkpoint ({type(err).__name__}: {_damage(err)})") from err


#: torch's refusal, as worded by torch 2.4-2.13: the global it would have had to import
_REFUSED = re.compile(r"(?:unsupported GLOBAL|Unsupported global: GLOBAL) ([\w.]+)")
_PICKLE_SCAN_BYTES = 64 << 20


def _refused_global(path: Path, err: Exception) -> str | None:
    """The callable torch refused to import, named from the pickle itself.

    torch's message names the global by where it found it, which can be wrong (it reports
    `subprocess.Popen` as `commands.Popen`), so the pickle's own GLOBAL / STACK_GLOBAL
    opcodes are read and the first one torch does not allow is named. Falls back to
    torch's wording when the pickle cannot be scanned.
    """
    m = _REFUSED.search(str(err))
    if m is None:
        return None
    try:
        allowed = _allowed_globals()
        for name in _pickle_globals(path):
            if name not in allowed:
                return name
    except Exception:  # noqa: BLE001 - the scan is a nicety; torch's name is the fallback
        pass
    return m.group(1)


def _allowed_globals() -> set[str]:
    import torch

    names: set[str] = set()
    try:
        from torch import _weights_only_unpickler as wou

        names |= set(wou._get_allowed_globals())
        names |= set(wou._get_user_allowed_globals())
    except Exception:  # noqa: BLE001 - private API; without it every global counts as refused
        pass
    for obj in torch.serialization.get_safe_globals():
        obj = obj[0] if isinstance(obj, tuple) else obj
        names.add(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}")
    return names


def _pickle_globals(path: Path) -> list[str]:
    """Every `module.name` a pickle (legacy file, or data.pkl of a zip checkpoint) imports, in order."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            pkl = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
            if pkl is None:
                return []
            with zf.open(pkl) as fh:
                data = fh.read(_PICKLE_SCAN_BYTES)
    else:
        with open_regular(path) as fh:
            data = fh.read(_PICKLE_SCAN_BYTES)
    found: list[str] = []
    strings: list[str] = []  # string pushes, for STACK_GLOBAL (module, then name)
    memo: dict[int, str] = {}  # memo slots that hold a string
    n_memo = 0
    pushed: str | None = None  # the string the previous opcode pushed, if it pushed one
    try:
        for op, arg, _ in pickletools.genops(data):
            name, top, pushed = op.name, pushed, None
            if name == "GLOBAL":
                found.append(_py3_name(*str(arg).split(" ", 1)))
            elif name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif name in _STRING_OPS:
                pushed = str(arg)
                strings.append(pushed)
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                if top is not None:
                    memo[int(arg)] = top
                pushed = top  # PUT leaves the value on the stack
            elif name == "MEMOIZE":
                if top is not None:
                    memo[n_memo] = top
                n_memo += 1
                pushed = top
            elif name in ("BINGET", "LONG_BINGET", "GET") and int(arg) in memo:
                pushed = memo[int(arg)]
                strings.append(pushed)
            elif name == "STOP":
                break
    except (ValueError, TypeError):  # a truncated pickle: what was read so far
        pass
    return found


def _py3_name(module: str, name: str = "") -> str:
    """The Python 3 callable a protocol-2 GLOBAL names: pickle writes `subprocess.Popen` as
    `commands Popen` for Python 2 and maps it back on load (fix_imports), and so do we."""
    import _compat_pickle

    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    else:
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return f"{module}.{name}"


_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}


def _damage(err: BaseException) -> str:
    """torch's description of a damaged file, without its advice to load unsafely."""
    text = " ".join(str(err).split())
    m = re.search(r"WeightsUnpickler error: (.*?)(?: Check the documentation|$)", text)
    if m:  # torch wraps the unpickler's own reason in paragraphs about weights_only
        text = m.group(1)
    text = re.sub(r"Weights only load failed\.?\s*", "", text)
    text = re.sub(r"[^.]*weights_only[^.]*\.?\s*", "", text)  # never pass on `weights_only=False`
    text = text.strip()
    return text[:200] if text else type(err).__name__


def _is_missing_attribute(dotted: str) -> bool:
    """True when `dotted` names an attribute absent from an already-imported module.

    A truncated legacy file can cut a global's name short (`torch._utils._rebuild_tens`);
    that is damage, not danger. Nothing is imported to find out.
    """
    module, _, attr = dotted.rpartition(".")
    mod = sys.modules.get(module)
    return mod is not None and not hasattr(mod, attr)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def _read_safetensors(path: Path) -> CheckpointSummary:
    from safetensors import safe_open

    tensors = []
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            for name in fh.keys():
                tensors.append(tensor_stats(name, fh.get_tensor(name)))
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        raise InputError(path, f"corrupt safetensors file ({_first_line(err)})") from err
    meta.pop("format", None)
    config: dict[str, Any] | None = None
    if meta:
        config = {}
        for key, value in meta.items():
            try:
                config[key] = json_loads(value)
                check_tree(config[key])
            except (TypeError, ValueError):  # not JSON, or nested / repeated past the limits
                config[key] = value
    step = _int_or_none(config.get("step", config.get("global_step"))) if config else None
    return CheckpointSummary(
        path=str(path), step=step if step is not None else _step_from_name(path), config=config,
        tensors=tuple(tensors), format="safetensors",
    )


# -- summarising a loaded object ----------------------------------------------------------
def summarize(obj: Any, path: Path) -> tuple[CheckpointSummary, list[LoadWarning]]:
    """Turn what torch.load returned into a CheckpointSummary (plus any warnings)."""
    import torch

    warnings: list[LoadWarning] = []
    if not isinstance(obj, dict):
        if isinstance(obj, (list, tuple)) and all(isinstance(v, torch.Tensor) for v in obj):
            obj = {str(i): v for i, v in enumerate(obj)}
        else:
            raise InputError(path, f"not a checkpoint (holds a {type(obj).__name__}, not a dict)")
    model_sd, optimizer, scheduler, config, step = _parts(obj, path, warnings)
    tensors = tuple(tensor_stats(n, t) for n, t in _tensor_items(model_sd))
    param_groups: tuple[dict[str, Any], ...] = ()
    moments: tuple[TensorStats, ...] = ()
    if optimizer is not None:
        param_groups = tuple(_group_summary(g) for g in optimizer.get("param_groups", []) if isinstance(g, dict))
        shapes = [(n, tuple(t.shape)) for n, t in _tensor_items(model_sd)]
        moments, matched = _moment_stats(optimizer, shapes)
        if shapes and optimizer.get("state") and not matched:  # no state saved: nothing to name
            warnings.append(LoadWarning(str(path), "optimizer state could not be matched to parameter names by order and shape; moments are named by index"))
    if step is None:  # a step the trainer wrote into the name beats Adam's count, reset on a fresh optimizer
        step = _step_from_name(path)
    if step is None and optimizer is not None:
        step = _adam_step(optimizer)
    return CheckpointSummary(
        path=str(path), step=step, config=config, param_groups=param_groups,
        scheduler=_small(scheduler) if isinstance(scheduler, dict) else None,
        tensors=tensors, optimizer_moments=moments, format="torch", callbacks=_callbacks(obj),
    ), warnings


def _callbacks(obj: dict) -> dict[str, dict[str, Any]] | None:
    """Lightning's `callbacks` entry: each callback's state (EarlyStopping's wait_count,
    patience, stopped_epoch, best_score...), scalars only, at most _MAX_LIST callbacks."""
    cbs = obj.get("callbacks")
    if not isinstance(cbs, dict):
        return None
    out = {str(k)[:300]: _small(v) for k, v in list(cbs.items())[:_MAX_LIST] if isinstance(v, dict)}
    return out or None


def _parts(obj: dict, path: Path | None = None, warnings: list[LoadWarning] | None = None,
           ) -> tuple[dict | None, dict | None, dict | None, dict | None, int | None]:
    """Split a loaded checkpoint into (model state dict, optimizer, scheduler, config, step).

    A stored config deeper than MAX_DEPTH or larger than MAX_NODES values (counting shared
    references each time they are reached) is dropped with a warning: walking or copying
    it would take hours or gigabytes.
    """
    import torch

    if "state" in obj and "param_groups" in obj:  # a bare optimizer state dict
        return None, obj, None, None, None
    model_sd = next((obj[k] for k in MODEL_KEYS if isinstance(obj.get(k), dict)), None)
    if model_sd is None and any(isinstance(v, torch.Tensor) for v in obj.values()):
        model_sd = obj  # plain state_dict (non-tensor extras are skipped)
    optimizer = next((obj[k] for k in OPTIMIZER_KEYS if isinstance(obj.get(k), dict)), None)
    if optimizer is None and isinstance(obj.get("optimizer_states"), (list, tuple)) and obj["optimizer_states"]:
        optimizer = obj["optimizer_states"][0]  # Lightning
    scheduler = next((obj[k] for k in SCHEDULER_KEYS if isinstance(obj.get(k), dict)), None)
    if scheduler is None and isinstance(obj.get("lr_schedulers"), (list, tuple)) and obj["lr_schedulers"]:
        scheduler = obj["lr_schedulers"][0]
    configs = {}
    for k in CONFIG_KEYS:
        if isinstance(obj.get(k), dict):
            try:
                check_tree(obj[k])
            except ValueError as err:
                if warnings is not None:
                    warnings.append(LoadWarning(str(path), f"stored {k!r} {err}; not read"))
                continue
            configs[k] = _plain(obj[k])
    config = next(iter(configs.values())) if len(configs) == 1 else (configs or None)
    step = next((_int_or_none(obj[k]) for k in STEP_KEYS if _int_or_none(obj.get(k)) is not None), None)
    return model_sd, optimizer if isinstance(optimizer, dict) else None, scheduler, config, step


def _tensor_items(sd: dict | None) -> Iterator[tuple[str, Any]]:
    import torch

    if not sd:
        return
    for name, value in sd.items():
        if isinstance(value, torch.Tensor):
            yield str(name), value


def _group_summary(group: dict) -> dict[str, Any]:
    """A param group without its index list: lr, weight_decay, betas, stage, lr_multiplier..."""
    out = {k: v for k, v in _small(group).items() if k not in ("params", "param_names", "names")}
    if isinstance(group.get("params"), (list, tuple)):
        out["n_params"] = len(group["params"])
    return out


def _adam_step(optimizer: dict) -> int | None:
    for state in (optimizer.get("state") or {}).values():
        if isinstance(state, dict) and "step" in state:
            return _int_or_none(state["step"])
    return None


def _step_from_name(path: Path) -> int | None:
    for part in (path.stem, path.parent.name):
        m = _STEP_IN_NAME.search(part)
        if m:
            return checked_step(m.group(1)) if len(m.group(1)) <= 19 else None
    return None


# -- Adam moments -------------------------------------------------------------------------
def _moment_stats(optimizer: dict, model_shapes: list[tuple[str, tuple[int, ...]]]) -> tuple[tuple[TensorStats, ...], bool]:
    """Stats of exp_avg / exp_avg_sq per parameter, named after the parameter when possible.

    PyTorch numbers parameters by their position across the param groups, in the order they
    were given to the optimizer, so names are recovered (in this order of trust):
    1. names stored in the groups (`param_names` when the optimizer was built from
       `named_parameters()`, `names` in our reference trainer);
    2. each group's parameters as an ordered subsequence of the model's tensors, matched by
       shape, accepted only when the match is unique (the earliest and the latest matching
       agree), and restricted to one stage when the group states its `stage`;
    3. otherwise `param<index>`, tagged with the group's stage if it has one.
    Returns the stats and whether every parameter with a moment got a name from 1 or 2.
    """
    import torch

    state = optimizer.get("state") or {}
    groups = [g for g in optimizer.get("param_groups", []) if isinstance(g, dict)]
    names: dict[Any, str] = {}
    group_stage: dict[Any, int | None] = {}
    for g in groups:
        ids = list(g.get("params", []))
        stage = _stage_of_group(g)
        for i in ids:
            group_stage[i] = stage
        listed = _listed_names(g)
        if listed is not None and len(listed) == len(ids):
            names.update(zip(ids, listed))
            continue
        shapes = [_moment_shape(state.get(i)) for i in ids]
        candidates = [(n, s) for n, s in model_shapes if stage is None or locate(n)[0] == stage]
        match = _unique_subsequence(shapes, candidates)
        if match is None and stage is not None:  # the names may not follow H-Net's layout
            match = _unique_subsequence(shapes, model_shapes)
        if match is not None:
            names.update(zip(ids, match))
    if len(set(names.values())) < len(names):  # two groups claimed one tensor: trust none of it
        names = {pid: n for g in groups if _listed_names(g) is not None
                 for pid, n in zip(g.get("params", []), _listed_names(g))}
    out: list[TensorStats] = []
    all_named = True
    for pid, pstate in state.items():
        if not isinstance(pstate, dict):
            continue
        name = names.get(pid)
        if name is None:
            all_named = False
        for key in ("exp_avg", "exp_avg_sq"):
            t = pstate.get(key)
            if isinstance(t, torch.Tensor):
                label = f"{name}.{key}" if name else f"param{pid}.{key}"
                where = locate(name) if name else (group_stage.get(pid), "other")
                out.append(tensor_stats(label, t, where))
    return tuple(out), all_named and bool(out)


def _listed_names(group: dict) -> list[str] | None:
    """Parameter names a group stores itself: torch's `param_names`, or `names` (our trainer)."""
    for key in ("param_names", "names"):
        if isinstance(group.get(key), (list, tuple)) and all(isinstance(n, str) for n in group[key]):
            return list(group[key])
    return None


def _stage_of_group(group: dict) -> int | None:
    stage = group.get("stage")
    if isinstance(stage, bool):
        return None
    if isinstance(stage, int):
        return stage
    if isinstance(stage, str):
        m = re.search(r"\d+", stage)
        return int(m.group()) if m else None
    return None


def _moment_shape(pstate: Any) -> tuple[int, ...] | None:
    if isinstance(pstate, dict):
        for key in ("exp_avg", "exp_avg_sq", "momentum_buffer"):
            if hasattr(pstate.get(key), "shape"):
                return tuple(pstate[key].shape)
    return None  # no state yet (no gradient reached it): matches any shape


def _unique_subsequence(shapes: list[tuple[int, ...] | None], candidates: list[tuple[str, tuple[int, ...]]]) -> list[str] | None:
    """Names of `candidates` that `shapes` matches as an ordered subsequence, if unique."""
    def fits(s, c):
        return s is None or s == c

    def greedy(order_s, order_c):
        picked, j = [], 0
        for s in order_s:
            while j < len(order_c) and not fits(s, order_c[j][1]):
                j += 1
            if j == len(order_c):
                return None
            picked.append(order_c[j][0])
            j += 1
        return picked

    if not shapes:
        return []
    first = greedy(shapes, candidates)
    last = greedy(shapes[::-1], candidates[::-1])
    if first is None or last is None or first != last[::-1]:
        return None
    return first


# -- statistics ---------------------------------------------------------------------------
def tensor_stats(name: str, tensor: Any, where: tuple[int | None, str] | None = None) -> TensorStats:
    """Statistics of one tensor in float64 chunks (see the module docstring for definitions)."""
    import torch

    stage, component = where if where is not None else locate(name)
    shape = tuple(int(d) for d in tensor.shape)
    dtype = str(tensor.dtype).replace("torch.", "")
    numel = int(tensor.numel())
    nan = float("nan")
    if tensor.is_complex() or tensor.is_sparse or tensor.is_quantized or tensor.device.type == "meta":
        return TensorStats(name, stage, component, shape, dtype, numel, nan, nan, nan, nan, nan, 0, 0)
    distinct, repeat = _distinct_elements(tensor)
    if distinct is None:  # overlapping strides: elements are shared in no regular pattern
        return TensorStats(name, stage, component, shape, dtype, numel, nan, nan, nan, nan, nan, 0, 0)
    if repeat != 1:  # every distinct element stands for `repeat` logical ones: scale the counts
        st = tensor_stats(name, distinct, (stage, component))
        return replace(st, shape=shape, numel=numel, l2_norm=st.l2_norm * math.sqrt(repeat),
                       nan_count=st.nan_count * repeat, inf_count=st.inf_count * repeat,
                       row_norms=None)  # rows of the collapsed tensor are not the logical rows
    from . import fast_stats

    rows = _row_norms(tensor) if component == "embeddings" else None
    fast = fast_stats.moments(tensor) if numel else None  # one compiled pass, same definitions
    if fast is not None:
        count, mean, m2, sumsq, max_abs, zeros, nans, infs = fast
        return replace(_stats(name, stage, component, shape, dtype, numel, count, mean, m2, sumsq, max_abs, zeros,
                              nans, infs), row_norms=rows)
    flat = tensor.detach().reshape(-1)
    count = 0  # finite entries
    mean = m2 = sumsq = 0.0
    max_abs = 0.0
    zeros = nans = infs = 0
    # one float64 buffer reused for every chunk (a fresh 8 MB tensor per chunk costs page
    # faults), and one thread: on 1M-element chunks torch's thread pool mostly waits at
    # barriers, which on a busy machine made each small op ~10x slower
    buf = torch.empty(min(CHUNK, numel), dtype=torch.float64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for start in range(0, numel, CHUNK):
            part = flat[start:start + CHUNK]
            c = buf[:part.numel()]
            c.copy_(part)
            zeros += c.numel() - int(torch.count_nonzero(c))
            c_sumsq = float(torch.dot(c, c))
            if not math.isfinite(c_sumsq):  # NaN or Inf inside (rare): count them, keep the rest
                nans += int(torch.isnan(c).sum())
                infs += int(torch.isinf(c).sum())
                c = c[torch.isfinite(c)]
                c_sumsq = float(torch.dot(c, c))
            n = c.numel()
            if n == 0:
                continue
            c_mean = float(c.sum()) / n
            # within a float64 chunk the textbook formula is exact enough; chunks merge stably below
            c_m2 = max(c_sumsq - n * c_mean * c_mean, 0.0)
            lo, hi = torch.aminmax(c)
            max_abs = max(max_abs, abs(float(lo)), abs(float(hi)))
            sumsq += c_sumsq
            # Chan et al.: merge (count, mean, M2) of two parts without a second pass
            delta = c_mean - mean
            total = count + n
            mean += delta * n / total
            m2 += c_m2 + delta * delta * count * n / total
            count = total
    finally:
        torch.set_num_threads(threads)
    return replace(_stats(name, stage, component, shape, dtype, numel, count, mean, m2, sumsq, max_abs, zeros, nans,
                          infs), row_norms=rows)


def _row_norms(tensor: Any) -> tuple[float, ...] | None:
    """Per-row L2 norms of a 2-D embedding matrix (float64), or None past ROW_LIMIT rows.

    Which rows moved tells which tokens (for a byte-level model: which byte values) the
    training data held: a row no input ever selected gets no gradient. NaN entries make
    their row's norm NaN, as they should.
    """
    import torch

    if tensor.dim() != 2 or not 0 < tensor.shape[0] <= ROW_LIMIT or not tensor.is_floating_point():
        return None
    step = max(1, CHUNK // max(1, tensor.shape[1]))  # rows per float64 chunk: one chunk of memory at a time
    out: list[float] = []
    for start in range(0, tensor.shape[0], step):
        out.extend(tensor[start:start + step].detach().to(torch.float64).norm(dim=1).tolist())
    return tuple(out)


def _stats(name: str, stage: int | None, component: str, shape: tuple[int, ...], dtype: str, numel: int, count: int,
           mean: float, m2: float, sumsq: float, max_abs: float, zeros: int, nans: int, infs: int) -> TensorStats:
    """TensorStats from the accumulated (count, mean, M2, sum of squares...) of the finite entries."""
    if count == 0:
        nan = float("nan")
        return TensorStats(name, stage, component, shape, dtype, numel, 0.0 if numel == 0 else nan,
                           0.0 if numel == 0 else nan, nan, nan, 0.0 if numel == 0 else zeros / numel, nans, infs)
    return TensorStats(
        name=name, stage=stage, component=component, shape=shape, dtype=dtype, numel=numel,
        l2_norm=math.sqrt(sumsq), max_abs=max_abs, mean=mean, std=math.sqrt(m2 / count),
        zero_frac=zeros / numel, nan_count=int(nans), inf_count=int(infs),
    )


def _distinct_elements(tensor: Any) -> tuple[Any, int]:
    """(the tensor without its stride-0 dimensions, how many times each element repeats).

    `torch.zeros(1).expand(2**40)` is a 4-byte storage seen as 2**40 elements through
    stride 0; measuring it element by element would loop for hours. Dropping the stride-0
    dimensions (index 0 along each) leaves every distinct element once, each standing for
    the product of the dropped sizes. (None, 0) when the rest still addresses more
    elements than the storage holds (overlapping non-zero strides).
    """
    repeat = 1
    t = tensor.detach()
    for dim in range(t.dim() - 1, -1, -1):
        if t.stride(dim) == 0 and t.shape[dim] > 1:
            repeat *= int(t.shape[dim])
            t = t.narrow(dim, 0, 1)
    try:
        capacity = t.untyped_storage().nbytes() // max(t.element_size(), 1)
    except (RuntimeError, NotImplementedError):
        return t, repeat
    if t.numel() > capacity:
        return None, 0
    return t, repeat


# -- plain values ---------------------------------------------------------------------------
def _small(d: dict) -> dict[str, Any]:
    """Keep scalars, strings and short numeric lists; drop tensors of any size, callables, blobs."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        v = _scalar(v)
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[str(k)] = v
        elif isinstance(v, (list, tuple)) and len(v) <= _MAX_LIST:
            items = [_scalar(x) for x in v]
            if all(isinstance(x, (bool, int, float, str)) or x is None for x in items):
                out[str(k)] = items
    return out


def _scalar(v: Any) -> Any:
    """0-d tensors become Python numbers; other values pass through."""
    if hasattr(v, "numel") and hasattr(v, "item"):
        try:
            return v.item() if v.numel() == 1 else v
        except (RuntimeError, ValueError):
            return v
    return v


def _plain(v: Any) -> Any:
    """A config value as JSON-like data: dicts, lists, scalars; big tensors dropped."""
    v = _scalar(v)
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items() if not _is_big_tensor(x)}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v if not _is_big_tensor(x)]
    return v


def _is_big_tensor(v: Any) -> bool:
    return hasattr(v, "numel") and hasattr(v, "shape") and v.numel() != 1


def _int_or_none(v: Any) -> int | None:
    """A step or count stored in a checkpoint (a 0-d tensor too) as int within int64, else None."""
    return to_int(_scalar(v))
