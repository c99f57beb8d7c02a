# synthvid: two commands set up and use a fresh clone.
#   make run   creates .venv if missing, installs the package, runs the main job into runs/smoke
#   make test  installs the dev extras if missing, runs the whole pytest suite
# Installs are redone only when pyproject.toml changes (stamp files inside .venv).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.synthvid-installed
DEV_INSTALLED := $(VENV)/.synthvid-dev-installed
RUN_DIR := runs/smoke
MODEL ?= synthvid-tiny

.PHONY: run test suites benchmark

# The smoke suite with the embedded model (MODEL=DIR for other weights), every clip watermarked, signed
# and registered with the user's keys (made on first use), then verified: make fails unless all are TRUSTED.
run: $(INSTALLED)
	$(BIN)/synthvid generate --suite shapes-smoke --model $(MODEL) --out $(RUN_DIR) --overwrite
	@$(BIN)/synthvid verify $(RUN_DIR)/clips/*.mp4 --json > $(RUN_DIR)/verify.json; status=$$?; \
	  $(BIN)/python -c "import collections, json; v = json.load(open('$(RUN_DIR)/verify.json')); print('synthvid verify:', ', '.join(f'{n} {k}' for k, n in collections.Counter(r.get('verdict', 'error') for r in v).items()), 'of', len(v), 'clips (details: $(RUN_DIR)/verify.json)')"; \
	  exit $$status
	@echo "Run folder: $(RUN_DIR)  (clips/, run.json, verify.json)"
	@echo "Table:      $(RUN_DIR)/results.parquet  -> python -c \"import pandas as pd; print(pd.read_parquet('$(RUN_DIR)/results.parquet'))\""

test: $(DEV_INSTALLED)
	$(BIN)/python -m pytest

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

$(DEV_INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@ $(INSTALLED)
