# Two commands do all set-up on a fresh machine (see README):
#   make report   install, then analyze the bundled example run
#   make test     install, then run the whole test suite (what CI runs)
#   make fuzz     the hostile-input fuzz suite at a large budget (FUZZ_EXAMPLES per property, random seed)
PYTHON ?= python3
EXAMPLE ?= fixtures/runs/example

FUZZ_EXAMPLES ?= 2000

.PHONY: install report test bench fixtures fuzz

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

fuzz: install
	# CI runs the same properties with a fixed seed and 25 examples each; this explores new inputs.
	HNET_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) HNET_FUZZ_RANDOM=1 $(PYTHON) -m pytest -q -s -p no:cacheprovider tests/test_fuzz_sources.py
