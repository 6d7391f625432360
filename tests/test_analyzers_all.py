"""analyze_all: every analyzer, JSON-ready results, plots, and silence on missing data."""
import json

from hnet_diag.analyzers import ANALYZERS, analyze_all
from conftest import close_figures, healthy_records, settings, records_run

KEYS = {"gradients", "warmup", "lr_ratio", "load_balance", "convergence", "loss", "generation", "decoding", "ranks", "learning", "weights",
        "boundaries", "samples"}


def test_analyze_all_returns_every_named_result(tmp_path):
    results = analyze_all(records_run(tmp_path, healthy_records(), settings()))
    assert set(results) == KEYS == set(ANALYZERS)
    # no generation settings, no checkpoint and one rank in this run: those have nothing to measure
    absent = {"generation", "decoding", "ranks", "weights", "boundaries", "samples"}
    assert {k: r.status for k, r in results.items()} == {**{k: "ok" for k in KEYS - absent}, **dict.fromkeys(absent, "no_data")}


def test_results_serialise_to_json_without_the_plotting_series(tmp_path):
    results = analyze_all(records_run(tmp_path, healthy_records(grad_spikes={300: 20.0}), settings()), skip=("decoding",))
    text = json.dumps({k: v.to_dict() for k, v in results.items()}, allow_nan=False)
    back = json.loads(text)
    assert back["gradients"]["spikes"][0]["step"] == 300
    assert "_series" not in back["gradients"]


def test_a_run_with_only_unrelated_metrics_gives_no_data_everywhere_never_an_alarm(tmp_path):
    results = analyze_all(records_run(tmp_path, [{"step": s, "tokens_per_s": 1000.0} for s in range(50)]))
    assert {k for k, r in results.items() if r.ok} == set()
    assert all(r.reason for r in results.values())


def test_every_result_plots_both_with_data_and_without(tmp_path):
    full = analyze_all(records_run(tmp_path / "a", healthy_records(), settings()), skip=("decoding",))
    empty = analyze_all(records_run(tmp_path / "b", [{"step": s, "epoch": 0.0} for s in range(5)]))
    for res in [*full.values(), *empty.values()]:
        ax = res.plot()
        assert ax is not None and ax.figure is not None
        close_figures()


def test_the_cached_view_gives_the_same_series_and_results_as_the_run(tmp_path):
    from hnet_diag.analyzers.cache import cached
    from hnet_diag.analyzers.gradients import analyze_gradients

    run = records_run(tmp_path, healthy_records(grad_spikes={300: 20.0}), settings())
    view = cached(run)
    for name in run.metric_names() + ["train/nonexistent"]:
        assert view.metric(name).equals(run.metric(name))
    assert view.stages("lr").keys() == run.stages("lr").keys()
    assert analyze_gradients(view) == analyze_gradients(run)
    assert analyze_all(run)["gradients"] == analyze_gradients(run)


def degenerate_runs():
    """Logs a real run can leave: one record, all NaN, constants, zeros, negative losses."""
    nan, inf = float("nan"), float("inf")
    yield "one record", [{"step": 0, "loss": 5.0, "grad_norm": 1.0, "lr": 0.0}]
    yield "all nan", [{"step": s, "loss": nan, "grad_norm": nan, "lr": nan, "val_loss": nan} for s in range(30)]
    yield "constant", [{"step": s, "loss": 2.0, "grad_norm": 1.0, "lr": 1e-3, "lr/stage0": 2e-3, "lr/stage1": 1e-3,
                        "boundary_frac/stage0": 0.2, "compression/stage0": 5.0} for s in range(200)]
    yield "zeros", [{"step": s, "loss": 0.0, "grad_norm": 0.0, "lr": 0.0, "clipped": 0.0, "boundary_frac/stage0": 0.0,
                     "compression/stage0": inf, "ratio_loss/stage0": 0.0} for s in range(100)]
    yield "negative loss", [{"step": s, "loss": -1.0 - s / 100 + (3.0 if s == 150 else 0.0)} for s in range(300)]
    yield "duplicate steps", [{"step": s // 2, "loss": 3.0 - s / 1000, "grad_norm": 0.5} for s in range(200)]
    yield "only lr/stage1", [{"step": s, "loss": 3.0, "lr/stage1": 1e-3} for s in range(50)]


def test_degenerate_logs_never_raise_and_report_status(tmp_path):
    for i, (label, recs) in enumerate(degenerate_runs()):
        results = analyze_all(records_run(tmp_path / str(i), recs, settings()), skip=("decoding",))
        for name, res in results.items():
            # a result either measured something or says why not, never both or neither
            assert res.status in ("ok", "no_data") and (res.status == "no_data") == bool(res.reason), (label, name)
        if label == "one record":  # nothing to measure a curve on
            assert not results["loss"].ok and not results["gradients"].ok, label
            json.dumps(res.to_dict(), allow_nan=False)
            res.plot()
        close_figures()
