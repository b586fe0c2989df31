# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install plink browser clean test-min docs

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install -q -e ".[test,lint]"
	@touch $(STAMP)

install: $(STAMP)

# PLINK 2 and PLINK 1.9 from Debian; skipped (tests then skip with a reason) when apt is unavailable.
plink:
	@if command -v plink2 >/dev/null 2>&1 && command -v plink1.9 >/dev/null 2>&1; then \
		echo "plink2 and plink1.9 present"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = "0" ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq plink2 plink1.9 >/dev/null) \
		|| echo "could not install plink2/plink1.9: PLINK tests will be skipped"; \
	else \
		echo "plink2/plink1.9 missing and apt-get not usable: PLINK tests will be skipped"; \
	fi

demo: $(STAMP) plink
	$(PY) examples/demo.py

# Sphinx HTML (API reference from the numpydoc docstrings, user guide); warnings are errors.
docs: $(STAMP)
	$(PY) -m pip install -q -e ".[docs]"
	rm -rf docs/generated docs/_build
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs/_build/html/index.html"

# Chromium for the report's browser test, from Debian; that test skips with a reason without it.
browser:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium present"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = "0" ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "could not install chromium: the browser test will be skipped"; \
	else \
		echo "chromium missing and apt-get not usable: the browser test will be skipped"; \
	fi

test: $(STAMP) plink browser
	$(PY) -m ruff check .
	$(MAKE) docs
	$(PY) -m pytest -q --timeout=900 --durations=30

clean:
	rm -rf $(VENV) $(VENV_MIN) demo_output .pytest_cache

# The lowest declared versions (requirements/minimum.txt, equal to the floors in
# pyproject.toml) in their own environment, and the fast tests against them.
VENV_MIN := .venv-min
PY_MIN := $(VENV_MIN)/bin/python
MIN_REQ := requirements/minimum.txt
MIN_STAMP := $(VENV_MIN)/.installed
MIN_TESTS := tests/test_packaging.py tests/test_common.py tests/data tests/losses tests/models

$(PY_MIN):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV_MIN)

# torch and torchvision are pinned to the same version in both environments: when
# .venv has them, they are linked from there instead of installed again (~5 GB).
$(MIN_STAMP): $(PY_MIN) pyproject.toml $(MIN_REQ)
	@if [ -x $(PY) ]; then \
		$(PY) requirements/share_torch.py "$$($(PY_MIN) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"; \
	fi
	$(PY_MIN) -m pip install -q -r $(MIN_REQ) -e ".[test]" -c $(MIN_REQ)
	$(PY_MIN) -m pip check
	@touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	$(PY_MIN) -m pytest -q -p no:cacheprovider --timeout=900 -m "not slow and not plink" $(MIN_TESTS)
