"""Samples from the run's own checkpoint, and what they measure.

Whether generation is "too random" or "loops" is a property of what the model writes, not
of the sampling settings alone: a confident model samples well at temperature 1, and a
weak one loops under greedy decoding. So the checkpoint writes a few short continuations
(fixed seeds) at the run's settings, and at the recommended ones when the run samples from
the full distribution, and each setting is measured:

- repetition: share of the sample's byte 4-grams seen earlier in the same sample, and the
  longest byte span that occurs twice (a loop repeats a long span);
- distinct-1 / distinct-2: distinct words and word pairs over all of them (Li et al. 2016);
- the model's own mean log-likelihood per byte of what it wrote (nats; from the raw
  distribution at each step), which falls as sampling reaches into the tail;
- the share of bytes that form valid UTF-8 (a byte model can write broken characters).

The analyzer is handed the model, prompts and settings (`sources.samples_input` opens the
checkpoint); it opens no file. Samples are cached per checkpoint content within a process,
so the many reports of one run in a test session generate once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import AnalyzerResult, new_axes, no_data_axes

#: longest sample text kept in a result (report and JSON), in characters
SHOWN_CHARS = 120
#: below this many parameters sampling runs on one CPU thread (as the decoding check)
SMALL_MODEL_PARAMS = 5_000_000

#: (checkpoint sha256, prompts, settings, seed) -> [(bytes, log-probs)] per prompt
_GENERATED: dict[tuple, list[tuple[bytes, list[float]]]] = {}


@dataclass(frozen=True)
class Sample:
    prompt: str  # the prompt, decoded (invalid bytes replaced)
    text: str  # the continuation, decoded and cut to SHOWN_CHARS
    n_bytes: int  # bytes the model wrote
    ended: bool  # it ended the document (EOS/BOS) before the byte limit


@dataclass(frozen=True)
class SampleSet:
    """The samples at one sampling setting, and their measurements (None: nothing written)."""

    setting: str  # "run" (the run's settings or the generate defaults) or "recommended"
    temperature: float
    top_p: float
    top_k: int
    repetition_penalty: float
    max_new_bytes: int
    n_samples: int = 0
    n_bytes: int = 0
    repeated_4gram_share: float | None = None
    longest_repeated_span: int = 0  # bytes, the longest in any one sample
    distinct_1: float | None = None
    distinct_2: float | None = None
    loglik_per_byte: float | None = None  # nats, the model's own, of the bytes it wrote
    valid_utf8_share: float | None = None
    samples: tuple[Sample, ...] = ()

    @property
    def label(self) -> str:
        """"temperature 1, top-p 1" (+ top-k, repetition penalty when set)."""
        parts = [f"temperature {self.temperature:g}", f"top-p {self.top_p:g}"]
        if self.top_k:
            parts.append(f"top-k {self.top_k}")
        if self.repetition_penalty != 1.0:
            parts.append(f"repetition penalty {self.repetition_penalty:g}")
        return ", ".join(parts)


@dataclass(frozen=True)
class SamplesResult(AnalyzerResult):
    checkpoint: str | None = None
    checkpoint_step: int | None = None
    seed: int = 0
    prompt_source: str | None = None
    settings_note: str = ""  # where the run's settings came from
    sets: tuple[SampleSet, ...] = ()

    def at(self, setting: str) -> SampleSet | None:
        """The samples at "run" or "recommended" settings, or None when not sampled."""
        return next((s for s in self.sets if s.setting == setting), None)

    def plot(self, ax: Any = None) -> Any:
        """Bars per setting: repeated 4-gram share, distinct-2, valid UTF-8 share, and -log-likelihood/byte."""
        title = "Samples from the checkpoint"
        if not self.ok or not self.sets:
            return no_data_axes(ax, self.reason or "no sample", title)
        ax = new_axes(ax, title)
        names = ("repeated 4-grams", "distinct-2", "valid UTF-8", "-loglik/byte (nats)")
        width = 0.8 / len(self.sets)
        for i, s in enumerate(self.sets):
            values = [s.repeated_4gram_share, s.distinct_2, s.valid_utf8_share,
                      None if s.loglik_per_byte is None else -s.loglik_per_byte]
            xs = [j + i * width for j in range(len(names))]
            ax.bar(xs, [0.0 if v is None else v for v in values], width=width, label=f"{s.setting}: {s.label}")
        ax.set_xticks([j + width * (len(self.sets) - 1) / 2 for j in range(len(names))], names, fontsize=8)
        ax.legend(fontsize=7, loc="best", framealpha=0.6)
        return ax


# -- measurements (pure functions of bytes) ----------------------------------------------

def repeated_ngram_share(data: bytes, n: int = 4) -> tuple[int, int]:
    """(n-grams seen earlier in `data`, all n-grams): a loop repeats most of its n-grams."""
    seen: set[bytes] = set()
    repeated = 0
    total = max(0, len(data) - n + 1)
    for i in range(total):
        gram = data[i:i + n]
        repeated += gram in seen
        seen.add(gram)
    return repeated, total


def longest_repeated_span(data: bytes) -> int:
    """Length of the longest byte span occurring at least twice in `data` (overlaps allowed)."""
    if len(data) < 2:
        return 0
    suffixes = sorted(range(len(data)), key=lambda i: data[i:])
    best = 0
    for a, b in zip(suffixes, suffixes[1:]):
        x, y = data[a:], data[b:]
        k = 0
        while k < len(x) and k < len(y) and x[k] == y[k]:
            k += 1
        best = max(best, k)
    return best


def valid_utf8_bytes(data: bytes) -> int:
    """How many bytes of `data` form valid UTF-8 (a character cut at the very end counts as valid)."""
    text = data.decode("utf-8", errors="surrogateescape")
    invalid = sum(0xDC80 <= ord(c) <= 0xDCFF for c in text)
    if invalid:  # a multi-byte character cut by the byte limit is not the model's error
        tail = 0
        while tail < len(text) and 0xDC80 <= ord(text[-1 - tail]) <= 0xDCFF:
            tail += 1
        try:
            data[len(data) - tail:].decode("utf-8")
        except UnicodeDecodeError as err:
            if err.reason == "unexpected end of data" and err.start == 0:
                invalid -= tail
    return len(data) - invalid


def ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def measure(setting: str, settings: Any, prompts: tuple[bytes, ...],
            generated: list[tuple[bytes, list[float]]]) -> SampleSet:
    """One SampleSet from the samples written at `settings` (trainer SamplingSettings)."""
    base = dict(setting=setting, temperature=float(settings.temperature), top_p=float(settings.top_p),
                top_k=int(settings.top_k), repetition_penalty=float(settings.repetition_penalty),
                max_new_bytes=int(settings.max_new_tokens))
    samples = tuple(Sample(prompt=p.decode("utf-8", errors="replace"),
                           text=out.decode("utf-8", errors="replace")[:SHOWN_CHARS], n_bytes=len(out),
                           ended=len(out) < settings.max_new_tokens) for p, (out, _) in zip(prompts, generated))
    n_bytes = sum(len(out) for out, _ in generated)
    if not n_bytes:
        return SampleSet(**base, n_samples=len(samples), samples=samples)
    rep = [repeated_ngram_share(out) for out, _ in generated]
    words = [out.decode("utf-8", errors="replace").split() for out, _ in generated]
    grams1 = [g for w in words for g in ngrams(w, 1)]
    grams2 = [g for w in words for g in ngrams(w, 2)]
    total4 = sum(t for _, t in rep)
    return SampleSet(
        **base, n_samples=len(samples), n_bytes=n_bytes,
        repeated_4gram_share=sum(r for r, _ in rep) / total4 if total4 else None,
        longest_repeated_span=max(longest_repeated_span(out) for out, _ in generated),
        distinct_1=len(set(grams1)) / len(grams1) if grams1 else None,
        distinct_2=len(set(grams2)) / len(grams2) if grams2 else None,
        loglik_per_byte=sum(s for _, scores in generated for s in scores) / n_bytes,
        valid_utf8_share=sum(valid_utf8_bytes(out) for out, _ in generated) / n_bytes,
        samples=samples,
    )


def write_samples(model: Any, prompts: tuple[bytes, ...], settings: Any, seed: int,
                  key: str | None = None) -> list[tuple[bytes, list[float]]]:
    """The model's continuation of each prompt (prompt i with seed + i) and its log-probabilities."""
    cache_key = None if key is None else (key, prompts, settings, seed)
    if cache_key is not None and cache_key in _GENERATED:
        return _GENERATED[cache_key]
    import torch

    from ..trainer.sampling import generate_scored

    threads = torch.get_num_threads()
    if sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS:
        torch.set_num_threads(1)  # hundreds of tiny matmuls: thread hand-offs cost more than they save
    try:
        out = [generate_scored(model, p, settings, seed=seed + i) for i, p in enumerate(prompts)]
    finally:
        torch.set_num_threads(threads)
    if cache_key is not None:
        _GENERATED[cache_key] = out
    return out


def analyze_samples(inputs: Any) -> SamplesResult:
    """Sample from `inputs.model` at each of `inputs.settings` and measure the samples.

    `inputs` is a `sources.samples_input.SamplesInput` (or anything with its fields); one
    without a model gives a no-data result carrying its reason.
    """
    base = dict(checkpoint=inputs.checkpoint, checkpoint_step=inputs.checkpoint_step, seed=inputs.seed,
                prompt_source=inputs.prompt_source, settings_note=inputs.settings_note)
    if not inputs.ok:
        return SamplesResult.no_data(inputs.reason or "no model to sample from", **base)
    sets = tuple(measure(name, s, inputs.prompts, write_samples(inputs.model, inputs.prompts, s, inputs.seed, inputs.key))
                 for name, s in inputs.settings)
    return SamplesResult(sets=sets, **base)


def samples(run: Any, prompts: Any = None, seed: int = 0, max_new_bytes: int | None = None,
            max_params: Any = "default") -> SamplesResult:
    """Notebook entry: `samples(run)` samples the run's newest bundled-trainer checkpoint.

    prompts: strings to continue (default: passages from the run's validation text);
    seed, max_new_bytes, max_params: as `sources.samples_input.samples_input`.
    The result has `.plot()` and `.at("run")` / `.at("recommended")`.
    """
    from ..sources.samples_input import DEFAULT_MAX_PARAMS, MAX_NEW_BYTES, samples_input

    return analyze_samples(samples_input(
        run, prompts=prompts, seed=seed, max_new_bytes=MAX_NEW_BYTES if max_new_bytes is None else max_new_bytes,
        max_params=DEFAULT_MAX_PARAMS if max_params == "default" else max_params))
