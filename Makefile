# synthvid: two commands set up and use a fresh clone.
#   make run   creates .venv if missing, installs the package, benchmarks synthvid-tiny on the smoke
#              suite into runs/smoke and writes runs/smoke/report.html
#   make test  installs the dev and refs extras if missing (refs: the reference packages the agreement
#              tests compare with), runs the whole pytest suite
# Installs are redone only when pyproject.toml changes (stamp files inside .venv).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.synthvid-installed
DEV_INSTALLED := $(VENV)/.synthvid-dev-installed
RUN_DIR := runs/smoke
MODEL ?= synthvid-tiny

.PHONY: run test test-fast suites benchmark chromium pipeline

# The main job: the benchmark of the embedded model (MODEL=DIR for other weights) on the smoke suite. Every
# clip is generated, watermarked, signed, registered (keys made on first use), scored and committed to the
# run's ledger; an interrupted `make run` resumes, and a run made with other settings or weights is
# started again. Then every clip is verified (make fails unless all are TRUSTED) and report.html written.
run: $(INSTALLED)
	@$(BIN)/synthvid bench shapes-smoke --model $(MODEL) --out $(RUN_DIR); status=$$?; \
	  if [ $$status = 2 ]; then echo "make run: starting $(RUN_DIR) again"; \
	    $(BIN)/synthvid bench shapes-smoke --model $(MODEL) --out $(RUN_DIR) --overwrite; status=$$?; fi; \
	  exit $$status
	@$(BIN)/synthvid verify $(RUN_DIR)/clips/*.mp4 --json > $(RUN_DIR)/verify.json; status=$$?; \
	  $(BIN)/python -c "import collections, json; v = json.load(open('$(RUN_DIR)/verify.json')); print('synthvid verify:', ', '.join(f'{n} {k}' for k, n in collections.Counter(r.get('verdict', 'error') for r in v).items()), 'of', len(v), 'clips (details: $(RUN_DIR)/verify.json)')"; \
	  exit $$status
	@$(BIN)/synthvid report $(RUN_DIR) > /dev/null
	@echo "Run folder: $(RUN_DIR)  (clips/, ledger.sqlite, results.parquet, metrics.json, run.json, verify.json)"
	@echo "Report:     $(abspath $(RUN_DIR))/report.html"

test: $(DEV_INSTALLED) chromium
	$(BIN)/python -m pytest

# The inner loop: every test not marked slow (subprocess benchmarks, reference packages, long clips).
test-fast: $(DEV_INSTALLED)
	$(BIN)/python -m pytest -m "not slow"

# The report test screenshots report.html in headless Chromium: Debian's package (CI starts bare, as root).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "warning: /usr/bin/chromium is missing and this is not root: sudo apt-get install chromium (the report screenshot test needs it)"; fi; \
	fi

# Regenerate the bundled shapes-full suite from the grammar (a test checks it is up to date).
suites: $(INSTALLED)
	$(BIN)/synthvid world prompts --out genkit/suites/shapes-full.txt

# Analyzer accuracy and render speed; writes benchmarks/results/world_analyzer.md.
benchmark: $(INSTALLED)
	nice -n 10 $(BIN)/python benchmarks/world_analyzer.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

# vbench 0.1.5 pins numpy<2 and transformers==4.33.2, which it does not need for the dimensions we test
# against it: it is installed without its dependencies (tests/test_vbench_reference.py), and so is pyiqa,
# whose MUSIQ class vbench's imaging quality imports (pyiqa asks for datasets, bitsandbytes, facexlib, ...),
# and omegaconf and imageio, which vbench's motion smoothness imports (AMT's config, its utils).
$(DEV_INSTALLED): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev,refs]'
	$(BIN)/python -m pip install --no-deps vbench==0.1.5 openai-clip==1.0.1 decord==0.6.0 easydict pyiqa==0.1.16 omegaconf==2.3.0 antlr4-python3-runtime==4.9.3 imageio==2.38.2
	touch $@ $(INSTALLED)

# Per-stage timings of the default run (make run's benchmark); writes benchmarks/results/pipeline.md.
pipeline: $(INSTALLED)
	nice -n 10 $(BIN)/python benchmarks/pipeline.py
