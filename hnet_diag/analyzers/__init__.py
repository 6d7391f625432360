"""Analyzers: pure functions of a Run (or of inputs prepared from it) returning frozen results.

    from hnet_diag import load_run
    from hnet_diag.analyzers import analyze_all
    results = analyze_all(load_run("runs/exp1"))
    results["gradients"].spikes

    from hnet_diag.analyzers import analyze_weights  # the checkpoint's weights, with .plot()
    analyze_weights(load_run("runs/exp1")).plot()

Each module is also usable alone (`hnet_diag.analyzers.spikes.detect_spikes(series)`).
Results measure and never judge: thresholds of judgement live in `hnet_diag.rules`.
"""
from __future__ import annotations

from typing import Any, Callable

from .boundaries import boundary_map  # noqa: F401 - notebook use: boundary_map(run, text).plot()

#: result name -> (module, function); the keys are what rules name in `reads`
ANALYZERS: dict[str, tuple[str, str]] = {
    "gradients": ("gradients", "analyze_gradients"),
    "warmup": ("warmup", "analyze_warmup"),
    "lr_ratio": ("lr_ratio", "analyze_lr_ratio"),
    "load_balance": ("load_balance", "analyze_load_balance"),
    "convergence": ("convergence", "analyze_convergence"),
    "loss": ("loss", "analyze_loss"),
    "generation": ("generation", "analyze_generation"),
    "decoding": ("decoding", "analyze_decoding"),
    "ranks": ("ranks", "analyze_ranks"),
    "learning": ("learning", "analyze_learning"),
    "weights": ("weights", "analyze_weights"),
    "boundaries": ("boundaries", "analyze_boundaries"),
    "samples": ("sample_quality", "analyze_samples"),
}

#: results that measure what only an H-Net has (per-stage LR ratios, chunking and routing,
#: step-wise decoding of the bundled model): a rule reading only these does not apply to
#: another model, and its report says so in one line instead of "no data"
HNET_ONLY: frozenset[str] = frozenset({"lr_ratio", "load_balance", "decoding", "boundaries", "samples"})


#: analyzers whose input is not the Run itself: result name -> (module, function) that
#: prepares it from a Run. Preparing opens files (a checkpoint, the corpus), so it lives
#: with the sources and the analyzer stays a pure function of what it is handed.
INPUTS: dict[str, tuple[str, str]] = {
    "decoding": ("hnet_diag.sources.reference_model", "decoding_input"),
    "boundaries": ("hnet_diag.sources.reference_model", "boundary_input"),
    "weights": ("hnet_diag.sources.training_bytes", "weights_input"),
    "samples": ("hnet_diag.sources.samples_input", "samples_input"),
}

#: analyzers that run the model (slow next to the rest): left out while a run is being written
MODEL_RUNS: frozenset[str] = frozenset({"decoding", "boundaries", "samples"})

def analyze_weights(run: Any) -> Any:
    """The weights analyzer on `run`, with the run's training data read to tell the embedding
    rows it trained (notebook use): `analyze_weights(load_run("runs/x")).plot()`.

    `hnet_diag.analyzers.weights.analyze_weights(run, data_bytes)` is the pure function
    underneath; this one prepares its input as a report does (`INPUTS["weights"]`).
    """
    return analyzer("weights")(run)


def analyzer(name: str, **options: Any) -> Callable[[Any], Any]:
    """A function of a Run computing the result registered under `name` (with its inputs
    prepared first where `INPUTS` names a loader; `options` go to that loader, e.g.
    analyzer("samples", prompts=["ROMEO:\n"]))."""
    import importlib

    module, func = ANALYZERS[name]
    analyze = getattr(importlib.import_module(f"hnet_diag.analyzers.{module}"), func)
    if name not in INPUTS:
        if options:
            raise TypeError(f"the {name} analyzer takes no options (only those with an input loader do)")
        return analyze
    import functools

    loader_module, loader = INPUTS[name]
    prepare = getattr(importlib.import_module(loader_module), loader)

    @functools.wraps(analyze)  # keeps the analyzer's name and return type (Results checks it)
    def from_run(run: Any) -> Any:
        return analyze(prepare(run, **options))

    return from_run


def analyze_all(run: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run every analyzer on `run`: {"gradients": GradientResult, ...}.

    `skip` leaves out analyzers by name (e.g. ("decoding", "samples"), the ones that run the model).
    """
    from .cache import cached

    view = cached(run)  # one metric extraction and one gradient/loss analysis shared by all
    return {name: view.result(name, analyzer(name)) for name in ANALYZERS if name not in skip}


def samples(run: Any, prompts: Any = None, seed: int = 0, max_new_bytes: int | None = None,
            max_params: Any = "default") -> Any:
    """Notebook entry: samples from the run's newest bundled-trainer checkpoint, measured.

        from hnet_diag.analyzers import samples
        r = samples(load_run("runs/exp1"), prompts=["ROMEO:\\n"])
        r.at("run").loglik_per_byte, r.at("recommended"); r.plot()

    See `analyzers.sample_quality.samples` for the arguments.
    """
    from .sample_quality import samples as sample_run

    return sample_run(run, prompts=prompts, seed=seed, max_new_bytes=max_new_bytes, max_params=max_params)

