"""Property-based fuzzing of every source (issue 14): mutated real files and crafted structures.

Seeds are the committed fixture files (fixtures/runs, fixtures/public_logs) plus small files
written here by the real writers (torch.save zip and legacy, safetensors, CSV, YAML,
trainer_state.json, argparse dumps, settings files). Each example puts one or two mutated
or crafted files, under the names the loader dispatches on, into a fresh run folder and
asserts the promises of `hnet_diag.sources.untrusted`:

* nothing but InputError escapes `load_run` (and that only for "nothing readable");
* no reader fell through to the loader's last-resort guard ("unreadable (SomeError: ...)"):
  such a warning means a reader met input it did not expect, i.e. a bug;
* it finishes within PER_EXAMPLE_SECONDS and the process's peak memory stays bounded;
* the run folder is byte-for-byte unchanged (names, sizes, mtimes, hashes);
* every warning names a file or folder of the run.

CI runs a fixed seed (derandomize) and HNET_FUZZ_EXAMPLES examples per source (default
25); `make fuzz` runs many more.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hnet_diag.errors import InputError
from hnet_diag.sources.discover import load_run
from hostile_inputs import deadline, deep_json, peak_rss_mib, shared_tree, tree_digest, yaml_alias_bomb

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("HNET_FUZZ_EXAMPLES", "25"))
PER_EXAMPLE_SECONDS = float(os.environ.get("HNET_FUZZ_SECONDS", "20"))
#: growth of the process's peak RSS allowed over the whole session (MiB)
RSS_GROWTH_MIB = 1500
SEED_MAX_BYTES = 256 << 10

FUZZ = settings(
    max_examples=EXAMPLES, derandomize=os.environ.get("HNET_FUZZ_RANDOM") != "1", deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
_START_RSS = peak_rss_mib()
CASES_RUN = {"n": 0}


# -- seeds ----------------------------------------------------------------------------------
def _fixture_seeds() -> dict[str, list[bytes]]:
    """name -> contents of small committed fixture files, keyed by the name the loader dispatches on."""
    seeds: dict[str, list[bytes]] = {}
    for base in ("fixtures/runs", "fixtures/public_logs"):
        for p in sorted((ROOT / base).rglob("*")):
            if p.is_file() and p.stat().st_size <= SEED_MAX_BYTES and p.suffix.lower() != ".md":
                name = "events.out.tfevents.1.host" if p.name.startswith("events.out.tfevents") else p.name
                seeds.setdefault(name, []).append(p.read_bytes())
    return seeds


def _written_seeds(folder: Path) -> dict[str, list[bytes]]:
    """Small files of the formats no committed fixture covers, written by their real writers."""
    import torch
    from safetensors.torch import save_file

    out: dict[str, list[bytes]] = {}

    def add(name: str, data: bytes) -> None:
        out.setdefault(name, []).append(data)

    cfg = {"model": {"arch_layout": ["m1", ["T1"], "m1"], "d_model": [8, 16], "d_intermediate": [0, 32]},
           "training": {"lr": 1e-3, "max_steps": 100, "warmup_steps": 10}}
    state = {"model": {"encoder.0.weight": torch.randn(4, 4), "embeddings.weight": torch.randn(8, 4)},
             "optimizer": {"state": {0: {"step": torch.tensor(5.0), "exp_avg": torch.zeros(4, 4), "exp_avg_sq": torch.zeros(4, 4)}},
                           "param_groups": [{"lr": 1e-3, "params": [0], "stage": 0, "lr_multiplier": 2.0}]},
             "config": cfg, "step": 5}
    for name, kwargs in (("step_5.pt", {}), ("legacy.pt", {"_use_new_zipfile_serialization": False})):
        torch.save(state, folder / name, **kwargs)
        add(name, (folder / name).read_bytes())
    save_file({"w": torch.randn(3, 3)}, str(folder / "model.safetensors"), metadata={"step": "3", "config": json.dumps(cfg)})
    add("model.safetensors", (folder / "model.safetensors").read_bytes())
    add("metrics.csv", b"step,train_loss,lr\n1,2.0,0.001\n2,1.9,0.001\n3,,0.001\n4,nan,0.0009\n")
    add("trainer_state.json", json.dumps({"log_history": [{"step": 10, "loss": 2.0, "learning_rate": 1e-4},
                                                          {"step": 20, "eval_loss": 1.9}], "max_steps": 100}).encode())
    add("config.yaml", b"training:\n  lr: 0.001\n  max_steps: 100\nmodel:\n  arch_layout: [m1, [T1], m1]\n  d_model: [8, 16]\n")
    add("hparams.yaml", b"lr: !!python/tuple [0.001]\nargs: !!python/object:argparse.Namespace {lr: 0.1}\n")
    add("args.txt", b"Namespace(lr=0.001, batch_size=32, warmup_ratio=0.1, max_steps=1000)\n")
    add("hparams.txt", b"--lr 3e-4 --max-steps 500 --schedule cosine\n")
    add("hnet-diag.toml", b"logging-steps = 10\n[[log-patterns]]\nregex = 'it (?P<step>\\d+) L=(?P<loss>\\S+)'\n")
    add("train.log", b"it 1 L=2.0\nit 2 L=1.9\n{'loss': 1.8, 'learning_rate': 1e-3, 'epoch': 0.1}\n")
    add("metrics.jsonl", '{"step": 1, "loss": 2.0, "note": "a\u2028b"}\n{"_step": 2, "loss": NaN}\n'.encode())
    return out


_SEEDS: dict[str, list[bytes]] = {}


def all_seeds() -> dict[str, list[bytes]]:
    """Fixture and written seeds, built once (kept out of Hypothesis' reports: they are large)."""
    if not _SEEDS:
        _SEEDS.update(_fixture_seeds())
        with tempfile.TemporaryDirectory() as tmp:
            for name, items in _written_seeds(Path(tmp)).items():
                _SEEDS.setdefault(name, []).extend(items)
    return _SEEDS


# -- mutations --------------------------------------------------------------------------------
#: byte strings that broke readers before (issue 14) or are classic parser traps
SNIPPETS = [
    b"NaN", b"Infinity", b"-Infinity", b"1e400", b"9" * 400, b"1" * 4400, str(2**70).encode(), b"\xef\xbb\xbf",
    "\u2028".encode(), b"\x00", b"\r", b"\n", b"[/]", b"[bold]", b"step" + b" " * 5000, b"{" * 3000, b"[" * 3000,
    b'"step": NaN', b'"step": 1e400', b"logging_steps=" + b"9" * 40, b"Continuing training from global step " + b"9" * 30,
    b"&a [*a, *a]", b"!!python/object/apply:os.system ['true']", b"\x80\x02cposix\nsystem\n", b",,,,,,,,,,",
    b"\xff\xfe", b"\xc3\x28", b"'", b'"', b"\\", b"Namespace(" * 50,
]


def mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    """Apply (kind, position, argument) edits: flip, delete, insert a snippet, duplicate, truncate."""
    buf = bytearray(data)
    for kind, pos, arg in ops:
        n = len(buf)
        at = pos % (n + 1)
        if kind == 0 and n:  # flip one byte
            buf[at % n] ^= (arg % 255) + 1
        elif kind == 1 and n:  # delete a span
            del buf[at:at + 1 + arg % 64]
        elif kind == 2:  # insert a trap
            buf[at:at] = SNIPPETS[arg % len(SNIPPETS)]
        elif kind == 3 and n:  # duplicate a span (repeated records, steps going back)
            span = bytes(buf[at:at + 1 + arg % 256])
            buf[at:at] = span * (1 + arg % 4)
        elif kind == 4:  # truncate (a job killed mid-write)
            del buf[at:]
    return bytes(buf)


edits = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 1 << 30), st.integers(0, 1 << 16)), min_size=1, max_size=6)


# -- the promises -------------------------------------------------------------------------------
def check_promises(files: dict[str, bytes], follow: bool = False) -> None:
    CASES_RUN["n"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        for name, data in files.items():
            p = run_dir / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        before = tree_digest(run_dir)
        with deadline(PER_EXAMPLE_SECONDS):
            try:
                run = load_run(run_dir, follow_external_links=follow)
            except InputError as err:
                if err.problem.startswith("nothing readable: "):
                    assert err.problem.split(": ", 1)[1].strip(), err  # a reason, never an empty one
                else:
                    assert err.problem.startswith("no training artefacts found"), err
                run = None
        assert tree_digest(run_dir) == before, "the run folder changed"
        assert peak_rss_mib() - _START_RSS < RSS_GROWTH_MIB
        if run is None:
            return
        names = set(before) | {"."}
        for w in run.warnings:
            assert w.source in names, f"warning names no file of the run: {w}"
            assert not re.match(r"unreadable \(\w+(Error|Exception)?: ", w.message), f"a reader raised unexpectedly: {w}"


def _name_and_seed():
    seeds = all_seeds()
    names = sorted(seeds)
    return st.sampled_from(names).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, len(seeds[n]) - 1).map(lambda i: seeds[n][i])))


# -- properties -----------------------------------------------------------------------------------
@FUZZ
@given(data=st.data())
def test_mutated_seed_files_keep_every_promise(data):
    name, seed = data.draw(_name_and_seed())
    files = {name: mutate(seed, data.draw(edits))}
    if data.draw(st.booleans()):  # a second, intact file: damage must not hide it
        other, other_seed = data.draw(_name_and_seed())
        files.setdefault("sub/" + other, other_seed)
    check_promises(files)


@FUZZ
@given(data=st.data())
def test_seeds_renamed_to_another_format_keep_every_promise(data):
    """A file read by the wrong reader (a checkpoint named metrics.jsonl, a log named config.json)."""
    _, seed = data.draw(_name_and_seed())
    name = data.draw(st.sampled_from(sorted(all_seeds())))
    check_promises({name: mutate(seed, data.draw(edits)) if data.draw(st.booleans()) else seed})


def _json_values(depth: int):
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**80), 2**80), st.floats(allow_nan=True), st.text(max_size=20))
    return st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                        max_leaves=depth)


STEP_VALUES = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                        st.just("1" * 400), st.none())


@FUZZ
@given(records=st.lists(st.dictionaries(st.sampled_from(["step", "_step", "loss", "lr", "grad_norm", "time", "x"]),
                                        st.one_of(STEP_VALUES, _json_values(8)), max_size=5), max_size=8),
       name=st.sampled_from(["metrics.jsonl", "trainer_state.json", "config.json", "config.yaml", "metrics.csv",
                             "train.log", "args.txt", "generation.json"]))
def test_crafted_structured_records_keep_every_promise(records, name):
    if name == "metrics.jsonl":
        text = "\n".join(json.dumps(r, allow_nan=True) for r in records)
    elif name == "trainer_state.json":
        text = json.dumps({"log_history": records, "max_steps": records[0].get("step") if records else None}, allow_nan=True)
    elif name in ("config.json", "generation.json"):
        text = json.dumps({k: v for r in records for k, v in r.items()}, allow_nan=True)
    elif name == "config.yaml":
        import yaml

        text = yaml.safe_dump({k: v for r in records for k, v in r.items()})
    elif name == "metrics.csv":
        keys = sorted({k for r in records for k in r})
        text = ",".join(keys) + "\n" + "\n".join(",".join(str(r.get(k, "")) for k in keys) for r in records)
    elif name == "args.txt":
        text = "\n".join(f"{k}={v!r}" for r in records for k, v in r.items())
    else:
        text = "\n".join(" ".join(f"{k} {v}" for k, v in r.items()) for r in records)
    check_promises({name: text.encode("utf-8", "surrogatepass")})


CRAFTED = {
    "deep_jsonl": {"metrics.jsonl": (deep_json(50_000) + "\n" + '{"step": 1, "loss": 1}\n').encode()},
    "deep_config": {"config.json": deep_json(50_000).encode()},
    "deep_yaml": {"config.yaml": ("a: " + "[" * 50_000 + "]" * 50_000).encode()},
    "alias_bomb": {"config.yaml": yaml_alias_bomb().encode()},
    "spaces": {"train.log": (("step" + " " * 60_000 + "x\n") * 20 + "step 1 loss=1\n").encode()},
    "blank_lines": {"train.log": ((" " * 60_000 + "\tx\n") * 4 + "step 1 loss=1\n").encode()},
    "wide_csv": {"metrics.csv": b"step" + b"," * (3 << 20) + b"\n1\n"},
    "bad_toml": {"hnet-diag.toml": b"[[log-patterns]]\nregex = '^(?P<step>(a|aa)+)+$'\n", "train.log": b"a" * 40 + b"b\n"},
}


@FUZZ
@given(case=st.sampled_from(sorted(CRAFTED)), extra=edits)
def test_crafted_hostile_structures_keep_every_promise(case, extra):
    files = dict(CRAFTED[case])
    first = sorted(files)[-1]
    files[first] = mutate(files[first], [e for e in extra if e[0] != 4])  # keep the structure's size
    check_promises(files)


def test_a_checkpoint_config_of_shared_references_keeps_every_promise(tmp_path):
    import torch

    torch.save({"model": {"w": torch.ones(2)}, "config": shared_tree(30, 8)}, tmp_path / "c.pt")
    check_promises({"c.pt": (tmp_path / "c.pt").read_bytes()})


def test_report_how_many_cases_ran():
    """Printed for `make fuzz` (-s): the number of examples checked in this session."""
    print(f"\nfuzz: {CASES_RUN['n']} cases run ({EXAMPLES} examples per property)")
    assert CASES_RUN["n"] >= 1
