# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv, installs facelab with its dev extra, and fetches the models once.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test models bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

models: $(BIN)/.installed
	$(BIN)/facelab models fetch

demo: models
	$(BIN)/facelab demo

test: models
	$(BIN)/python -m pytest -q

bench: models
	$(BIN)/python -m pytest benchmarks -q --benchmark-json=benchmarks/results.json

clean:
	rm -rf $(VENV) runs
