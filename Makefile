# The two commands a user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/kam demo

test: $(STAMP) chromium
	$(BIN)/python -m pytest

# The report's browser test renders it in Debian's headless Chromium; installed when missing
# and allowed (root, as on CI), otherwise the test says what to install.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || \
	  echo "note: install Debian's 'chromium' package for the report's browser test"

clean:
	rm -rf $(VENV) data/demo data/*.duckdb data/*.duckdb.* .pytest_cache
