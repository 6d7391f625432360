"""The README's notebook examples run as written, on a committed real run."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
RUN_BLOCKS = [b for b in BLOCKS if 'load_run("runs/exp1")' in b]


def test_the_readme_has_notebook_examples_to_run():
    assert len(RUN_BLOCKS) >= 2


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[f"block{i}" for i in range(len(RUN_BLOCKS))])
def test_a_readme_notebook_example_runs_on_a_real_run(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may save plots into the working directory
    # the samples example needs a checkpoint: the example run keeps one
    run_path = ROOT / "fixtures" / "runs" / ("example" if "samples(" in block else "aggressive_multipliers")
    namespace: dict = {}
    exec(compile(block.replace('"runs/exp1"', repr(str(run_path))), "README.md", "exec"), namespace)
    # the run has outer-stage gradient spikes after warmup (fixtures/runs/README.md)
    if "d" in namespace:
        assert "HND101" in {f.code for f in namespace["d"].alarms}
    if "results" in namespace:
        assert namespace["results"]["gradients"].spikes
        assert (tmp_path / "compression.png").stat().st_size > 0
    if "r" in namespace:  # samples from the checkpoint at the run's settings and the recommended ones
        assert [s.setting for s in namespace["r"].sets] == ["run", "recommended"]
    assert "d" in namespace or "results" in namespace or "r" in namespace


def test_readme_shows_the_same_warmup_finding_as_each_trainer_renders_it():
    import json
    from pathlib import Path

    from hnet_diag import load_run
    from hnet_diag.advice import advise
    from hnet_diag.diagnosis import diagnose

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Advice in your trainer's words", 1)[1].split("\n## ", 1)[0]
    blocks = {}
    for chunk in section.split("```")[1::2]:
        lang, _, body = chunk.partition("\n")
        blocks[lang] = body.strip()
    d = diagnose(load_run(root / "fixtures" / "runs" / "no_warmup"))
    (warmup,) = [a for r in d.recommendations for a in r.changes if a.setting == "warmup_steps"]
    assert json.loads(blocks["json"]) == warmup.to_dict()
    assert blocks["bash"] == advise([warmup], "hnet-diag").code[0]
    hf = advise([warmup], "hf")
    assert blocks["python"] == hf.code[0] and f"Command line: {hf.cli}" in section.replace("`", "")
