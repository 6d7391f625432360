# Two commands do all set-up on a fresh machine (see README):
#   make report   install, then analyze the bundled example run
#   make test     install, then run the whole test suite (what CI runs)
PYTHON ?= python3
EXAMPLE ?= fixtures/runs/example

.PHONY: install report test bench fixtures

install:
	# The CPU build of torch first, so the project's range does not pull a CUDA build.
	$(PYTHON) -m pip install --quiet torch==2.13.0
	$(PYTHON) -m pip install --quiet -e ".[test]"

report: install
	hnet-diag analyze $(EXAMPLE) -o hnet-diag-report/report.md

test: install
	# pytest exits 5 when it collected no test: that is a failure here, not a pass.
	$(PYTHON) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

bench: install
	for f in benchmarks/*.py; do $(PYTHON) $$f || exit 1; done

fixtures: install
	$(PYTHON) fixtures/make_runs.py
