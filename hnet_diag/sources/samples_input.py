"""What the samples analyzer is handed: the run's model, a few prompts, and the settings to sample at.

Judging generation by its settings alone ("temperature 1 is too random") is a rule of
thumb; the checkpoint can show what the model actually writes. This loader opens the
newest reference-trainer checkpoint (through `reference_model.rebuild_model`, so the same
size limit and reasons as the decoding check apply), picks the prompts and the settings,
and leaves generating and measuring to the pure analyzer (`hnet_diag.analyzers.sample_quality`).

Prompts: the ones given (`--prompts FILE`), else the starts of the first validation
documents of the run's own training text when the run names it in a form that can be read
safely (a `bundled:` corpus, or a file inside the run folder: a config naming a file
elsewhere is not followed, so nothing from outside the run ends up in a report), else the
bundled corpus' validation split.

Settings: the run's own generation settings (generation.json or the config), else the
`hnet-diag generate` defaults, said so; plus `trainer.sampling.RECOMMENDED` whenever the
run's settings sample from the full distribution (what HND501 judges), so the report can
put the two side by side.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .reference_model import DEFAULT_MAX_PARAMS, rebuild_model, reference_checkpoint

#: prompts per setting, bytes written per sample and bytes of each default prompt: small
#: enough that two settings cost about a second for the bundled tiny configs
N_PROMPTS = 3
MAX_NEW_BYTES = 120
PROMPT_BYTES = 48
#: prompts read from a file: at most this many, each cut to this many bytes
MAX_PROMPTS = 8
MAX_PROMPT_BYTES = 256
#: a run's own text file larger than this is not read for prompts (the bundled corpus is used)
MAX_DATA_BYTES = 64 * 1024 * 1024
BUNDLED = "bundled tinyshakespeare (validation split)"


@dataclass(frozen=True)
class SamplesInput:
    """A rebuilt model, prompts and sampling settings, or the reason there is nothing to sample."""

    model: Any = None  # HNetLM in eval mode
    prompts: tuple[bytes, ...] = ()
    prompt_source: str | None = None  # where the prompts came from, in words
    settings: tuple[tuple[str, Any], ...] = ()  # (name, trainer.sampling.SamplingSettings): "run", "recommended"
    settings_note: str = ""  # where the run's settings came from ("generation.json", "generate defaults ...")
    checkpoint: str | None = None
    checkpoint_step: int | None = None
    key: str | None = None  # sha256 of the checkpoint file: what samples are cached by within a process
    seed: int = 0
    reason: str | None = None  # set when there is nothing to sample

    @property
    def ok(self) -> bool:
        return self.reason is None and self.model is not None


def read_prompts(path: str | Path) -> tuple[str, ...]:
    """Prompts from a text file: one per line, `\\n` written for a line break, empty lines skipped.

    Raises InputError (one line naming the file) when it cannot be read or holds no prompt.
    """
    from ..errors import InputError

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(p, "prompts file is not UTF-8 text") from None
    except OSError as err:
        raise InputError(p, f"cannot read the prompts file ({err.strerror or err})") from None
    prompts = tuple(line.replace("\\n", "\n") for line in text.splitlines() if line.strip())
    if not prompts:
        raise InputError(p, "prompts file holds no prompt (one prompt per line)")
    return prompts[:MAX_PROMPTS]


def passage_prompts(docs: list[bytes], n: int = N_PROMPTS, size: int = PROMPT_BYTES) -> tuple[bytes, ...]:
    """The starts of the first `n` documents with distinct starts, each cut after its last
    whitespace within `size` bytes (the model continues a whole word, not half of one)."""
    out: list[bytes] = []
    for doc in docs:
        head = doc[:size]
        cut = max(head.rfind(b" "), head.rfind(b"\n"))
        head = head[:cut + 1] if cut > 0 and len(doc) > size else head
        if head.strip() and head not in out:
            out.append(head)
        if len(out) == n:
            break
    return tuple(out)


def run_text(ckpt: Any, run_path: Any) -> tuple[list[str] | None, str]:
    """The run's training files when they can be read safely (`reference_model.data_files`),
    bundled ones by their `bundled:` name, else (None, why not)."""
    from ..trainer.data import BUNDLED_PREFIX
    from .reference_model import data_files

    training = ckpt.config.get("training") if isinstance(ckpt.config.get("training"), dict) else {}
    data = training.get("data")
    if isinstance(data, str):
        data = [data]
    paths, why = data_files(run_path, data)
    if not paths:
        return None, why
    if sum(p.stat().st_size for p in paths) > MAX_DATA_BYTES:
        return None, "the run's training text is larger than 64 MiB"
    return [name if name.startswith(BUNDLED_PREFIX) else str(path) for name, path in zip(data, paths)], ""


def default_prompts(ckpt: Any, run_path: Any) -> tuple[tuple[bytes, ...], str]:
    """(prompts, where they come from): the run's own validation text, else the bundled corpus'."""
    from ..errors import InputError
    from ..trainer.data import bundled_corpus, read_documents, split_documents

    files, why = run_text(ckpt, run_path)
    if files:
        try:
            _, val = split_documents(read_documents(files))
            prompts = passage_prompts(val)
            if prompts:
                names = ", ".join(Path(f).name if not f.startswith("bundled:") else f for f in files)
                return prompts, f"starts of the first validation documents of the run's own text ({names})"
            why = "the run's validation text has no passage"
        except InputError as err:
            why = f"the run's training text cannot be read ({err.problem})"
    _, val = split_documents(read_documents([bundled_corpus()]))
    return passage_prompts(val), f"starts of the first validation documents of the {BUNDLED}" + (f" ({why})" if why else "")


def run_settings(run: Any) -> tuple[Any, str]:
    """(SamplingSettings, where they came from): the run's recorded ones, else the generate defaults."""
    from ..trainer.sampling import SamplingSettings

    g = getattr(run, "generation", None)
    values = {k: getattr(g, k, None) for k in ("temperature", "top_p", "top_k", "repetition_penalty")}
    if g is None or all(v is None for v in values.values()):
        d = SamplingSettings()
        return d, (f"the run records no sampling settings: `hnet-diag generate`'s defaults "
                   f"(temperature {d.temperature:g}, top-p {d.top_p:g})")
    kept = {k: v for k, v in values.items() if v is not None}
    s = SamplingSettings(**{k: (int(v) if k == "top_k" else float(v)) for k, v in kept.items()})
    return s, f"the run's own settings ({Path(g.source).name if g.source else 'its config'})"


def valid_settings(s: Any) -> str | None:
    """Why `s` cannot be sampled with (a hostile or broken generation.json), or None."""
    values = (s.temperature, s.top_p, s.repetition_penalty)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values) or s.top_k > 1_000_000:
        return "they are not finite numbers"
    try:
        s.check()
    except ValueError as err:
        return str(err)
    return None


def samples_input(
    run: Any, prompts: Any = None, enabled: bool = True, seed: int = 0, max_new_bytes: int = MAX_NEW_BYTES,
    max_params: int | None = DEFAULT_MAX_PARAMS,
) -> SamplesInput:
    """Rebuild the newest reference-trainer checkpoint of `run` and choose prompts and settings.

    prompts: strings (or bytes) to continue; None picks passages from the validation text.
    enabled: False (`--no-samples`) gives a no-data input that says so.
    seed: sample i of every setting is drawn with seed + i, so reports are byte-identical.
    max_new_bytes: bytes written per sample (the run's max_new_tokens when smaller).
    max_params: larger models are not rebuilt (as for the decoding check); None lifts the limit.
    """
    from dataclasses import replace

    from ..analyzers.generation import is_pure_sampling
    from ..trainer.sampling import RECOMMENDED

    if not enabled:
        return SamplesInput(seed=seed, reason="samples were not generated (--no-samples)")
    ckpt = reference_checkpoint(run)
    if ckpt is None:
        return SamplesInput(seed=seed, reason="no reference-trainer checkpoint (a checkpoint whose config has an "
                                              "H-Net 'model' config) to sample from")
    base = dict(checkpoint=ckpt.path, checkpoint_step=ckpt.step, seed=seed)
    ours, note = run_settings(run)
    bad = valid_settings(ours)
    if bad:
        return SamplesInput(**base, settings_note=note, reason=f"the run's sampling settings cannot be used ({bad})")
    model, _cfg, reason = rebuild_model(ckpt, max_params, hint="pass --no-samples, or call "
                                        "analyze_samples(samples_input(run, max_params=None)) in Python,", view=run)
    if reason is not None:
        return SamplesInput(**base, settings_note=note, reason=f"samples skipped: {reason}")
    if prompts is None:
        chosen, source = default_prompts(ckpt, getattr(run, "path", "."))
    else:
        chosen = tuple((p if isinstance(p, bytes) else str(p).encode("utf-8"))[:MAX_PROMPT_BYTES]
                       for p in prompts)[:MAX_PROMPTS]
        source = "prompts given"
    if not chosen:
        return SamplesInput(**base, settings_note=note, reason="no prompt to sample from")
    asked = getattr(getattr(run, "generation", None), "max_new_tokens", None)
    limit = max(1, min(max_new_bytes, asked if isinstance(asked, int) and asked >= 1 else max_new_bytes))
    settings = [("run", replace(ours, max_new_tokens=limit))]
    if is_pure_sampling(ours.temperature, ours.top_p, ours.top_k):
        settings.append(("recommended", replace(RECOMMENDED, max_new_tokens=limit,
                                                repetition_penalty=ours.repetition_penalty)))
    return SamplesInput(model=model, prompts=chosen, prompt_source=source, settings=tuple(settings),
                        settings_note=note, key=_sha256(ckpt.path), **base)


def _sha256(path: str) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()
