# The two commands of the README: `make demo` (the main job) and `make test` (the test suite).
# Both create the virtualenv and install the project on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint audit clean-state

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,onnx,dev]'
	touch $@

demo: install
	$(BIN)/ecg-stream demo

# pytest's exit code 5 (no tests collected) is a failure for us.
test: install lint
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: no tests ran" >&2; exit 1; fi; exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python tools/import_cycles.py

# Known vulnerabilities of the installed dependencies: pip-audit (needs osv.dev or PyPI's
# per-version JSON); where it cannot audit every dependency, the PyPI-latest fallback.
audit: install
	$(BIN)/python -m pip install -q 'pip-audit>=2.7,<3'
	$(BIN)/pip-audit --strict --skip-editable || $(BIN)/python tools/audit_latest.py

clean-state:
	$(BIN)/ecg-stream infra down
	rm -rf .ecg
