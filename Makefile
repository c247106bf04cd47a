# The two commands a user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install clean chromium cjk-font

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/kam demo

test: $(STAMP) chromium cjk-font
	$(BIN)/python -m pytest

# The report's browser test renders it in Debian's headless Chromium; installed when missing
# and allowed (root, as on CI), otherwise the test says what to install.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || \
	  echo "note: install Debian's 'chromium' package for the report's browser test"

# The Chinese report (and its browser test) needs a font with Chinese glyphs: Debian's Noto CJK,
# installed the same way when fontconfig knows none.
cjk-font:
	@fc-list :lang=zh family 2>/dev/null | grep -q . || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk; } || \
	  echo "note: install Debian's 'fonts-noto-cjk' package for the Chinese report"

clean:
	rm -rf $(VENV) data/demo data/*.duckdb data/*.duckdb.* .pytest_cache
