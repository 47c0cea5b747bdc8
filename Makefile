# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv, installs facelab with its dev extra, and fetches the models once.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-costly docs-check lint browser models bench gpu clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

models: $(BIN)/.installed
	$(BIN)/facelab models fetch

demo: models
	$(BIN)/facelab demo

# Debian's chromium for the real-browser tests (they are skipped without it); needs root.
browser:
	command -v chromium >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# Lint (ruff), import contracts (import-linter, see pyproject.toml), then the tests.
lint: $(BIN)/.installed
	$(BIN)/ruff check facelab tests benchmarks docs_check
	$(BIN)/ruff format --check facelab tests benchmarks docs_check
	$(BIN)/lint-imports

# Two workers (one per core of the reference machine), each taking whole test files.
TEST_JOBS ?= 2
test: models lint
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile

# The tests marked `costly` (image-mode twin fidelity, full-size cases, image mode on Ray).
test-costly: models
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile -m costly

# The costly commands whose figures README.md and benchmarks/README.md quote (calibrate --check,
# the reference cases, synth stats, the metro sweep, the example notebook; twin_seeds.py only with
# `pytest docs_check -m costly`), run
# afresh in a model folder of their own (docs_check/conftest.py); fails when a quoted figure and
# its command disagree. Tens of minutes on two cores.
docs-check: models
	$(BIN)/python -m pytest docs_check -q -p no:cacheprovider

bench: models
	$(BIN)/python -c 'from facelab.twin.model import load_default; load_default()' 2>/dev/null || $(BIN)/facelab calibrate
	$(BIN)/python -m pytest benchmarks -q --benchmark-json=benchmarks/results.json

# GPU twins replace the CPU packages in a separate environment (both provide the same modules).
gpu:
	$(PYTHON) -m venv .venv-gpu
	.venv-gpu/bin/python -m pip install -q --disable-pip-version-check -e '.[dev,gpu]'
	.venv-gpu/bin/python -m pip uninstall -q -y faiss-cpu onnxruntime
	.venv-gpu/bin/python -m pip install -q --force-reinstall --no-deps onnxruntime-gpu faiss-gpu
	.venv-gpu/bin/facelab models fetch

clean:
	rm -rf $(VENV) .venv-gpu runs
