"""How often each judged code was right on public runs nobody tuned it on.

A finding says how sure it is by its own margins (a rise "2.3x its point scatter, threshold
2x") and, for the codes scored on the labelled public corpus (`fixtures/real_runs/`), by
its record there: of the times the code fired on a held-out run, how many runs did have the
pathology (precision), and of the runs that had it, how many did the code's class find
(recall). The held-out runs are the validation half of the runs added after the corpus was
first scored, less each verdict a rule change was made after seeing (SEEN.toml): the
numbers `fixtures/score_real_runs.py` prints last.

The numbers live in `track_record.toml` beside this module, written by
`python fixtures/score_real_runs.py --track-record` (never by hand), with the cohorts they
were measured on; `tests/test_real_runs.py` recomputes them on those cohorts, so a rule change
that moves a verdict there fails until the record is written again.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

RECORD_FILE = "track_record.toml"


@dataclass(frozen=True)
class TrackRecord:
    code: str
    cls: str  # the labelled class the code reports (LABELLING.md)
    fired: int  # held-out runs judged for the class where the code fired
    right: int  # ...of them, runs labelled with the class
    labelled: int  # held-out runs labelled with the class
    found: int  # ...of them, runs where one of the class's codes fired
    runs: int  # held-out runs in all
    found_by: tuple[str, ...] = ()  # the class's codes (HND404 and HND406 both report divergence)

    @property
    def precision(self) -> float | None:
        return self.right / self.fired if self.fired else None

    @property
    def recall(self) -> float | None:
        return self.found / self.labelled if self.labelled else None

    def sentence(self) -> str:
        """One line for a report: the code's record, in counts (a ratio of 3 runs says little)."""
        cls = self.cls.replace("_", " ")
        fired = (f"right {self.right} of the {self.fired} times it fired" if self.fired
                 else "it never fired there")
        by = f" (by {' or '.join(self.found_by)})" if len(self.found_by) > 1 else ""
        found = f"; {cls} was found{by} on {self.found} of the {self.labelled} runs labelled so" if self.labelled else ""
        return f"on {self.runs} held-out public runs labelled from their own numbers, {self.code} was {fired}{found}"

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.cls, "fired": self.fired, "right": self.right, "labelled": self.labelled,
                "found": self.found, "found_by": list(self.found_by), "runs": self.runs,
                "precision": self.precision, "recall": self.recall}


@lru_cache(maxsize=1)
def load_records() -> dict[str, TrackRecord]:
    """code -> its record, from the packaged track_record.toml ({} when the file is absent)."""
    from ..settings_file import loads_toml

    try:
        text = resources.files(__package__).joinpath(RECORD_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return {}
    data = loads_toml(text)
    runs = int(data.get("runs", 0))
    return {code: TrackRecord(code=code, cls=row["class"], fired=int(row["fired"]), right=int(row["right"]),
                              labelled=int(row["labelled"]), found=int(row["found"]), runs=runs,
                              found_by=tuple(row.get("found_by", ())))
            for code, row in data.get("codes", {}).items()}


def track_record(code: str) -> TrackRecord | None:
    """The code's record on held-out public runs, or None for a code the corpus does not score."""
    return load_records().get(code)
