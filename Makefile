# The commands a user needs: `make demo`, `make ui` (the Dagster UI on the demo) and `make test`.
# While developing: `make lint` (ruff) and `make test-fast` (the unit tests, no end-to-end runs).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPARK  := $(VENV)/.installed-spark

.PHONY: demo ui test test-fast lint install clean chromium cjk-font java

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The `spark` extra (pyspark, about 490 MB) only for the tests of the Spark engine: with pyspark
# installed, pandera and great-expectations import it at start-up (about half a second), except in a
# `kam run` on the DuckDB engine, which hides it from them.
$(SPARK): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $(SPARK)

# The demo records its run in a project-local Dagster instance; `make ui` opens the UI on
# that instance and on the demo's data folder and database (kam demo's defaults).
DEMO_HOME := $(CURDIR)/.dagster_home
DEMO_ENV  := DAGSTER_HOME=$(DEMO_HOME) KAM_DATA_DIR=data/demo KAM_DB_PATH=data/kam.duckdb

# The instance takes the production settings (deploy/dagster.yaml): the run queue and the
# one-writer pool of DuckDB steps, for runs launched from the UI too.
$(DEMO_HOME)/dagster.yaml: deploy/dagster.yaml
	mkdir -p $(DEMO_HOME)
	cp deploy/dagster.yaml $@

demo: $(STAMP) $(DEMO_HOME)/dagster.yaml
	$(DEMO_ENV) $(BIN)/kam demo

ui: $(STAMP) $(DEMO_HOME)/dagster.yaml
	$(DEMO_ENV) $(BIN)/dagster dev -w workspace.yaml

# The full suite, lint first. It installs the `spark` extra (with the dev one) and Java for the
# Spark engine's tests.
test: lint chromium cjk-font java $(SPARK)
	$(BIN)/python -m pytest

# The tests not marked `integration` (no Dagster runs, kam subprocesses, browser or webserver),
# spread over the machine's cores (pytest-xdist).
test-fast: $(SPARK)
	$(BIN)/python -m pytest -m "not integration" -n auto

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The report's browser test renders it in Debian's headless Chromium; installed when missing
# and allowed (root, as on CI), otherwise the test says what to install.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || \
	  echo "note: install Debian's 'chromium' package for the report's browser test"

# The Chinese report (and its browser test) needs a font with Chinese glyphs that the report's font
# stack names (report/charts.py CJK_FONTS): Debian's Noto CJK, installed the same way when fontconfig
# knows none of them (another font covering Chinese, such as Droid fallback, is not in the stack).
# After chromium, so that two apt-get never run at once under make -j.
cjk-font: chromium
	@fc-list :lang=zh family 2>/dev/null | grep -Eq 'Noto Sans CJK SC|Noto Sans SC|Source Han Sans SC|Microsoft YaHei|PingFang SC|WenQuanYi|SimHei' || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk; } || \
	  echo "note: install Debian's 'fonts-noto-cjk' package for the Chinese report"

# The Spark engine's tests (tests/engines/) start a local Spark, which needs Java 17 or newer:
# Debian's openjdk-17-jre-headless, installed the same way when no `java` is on PATH.
# After cjk-font, so that two apt-get never run at once under make -j.
java: cjk-font
	@command -v java >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; } || \
	  echo "note: install Java 17 or newer (Debian's 'openjdk-17-jre-headless') for the Spark engine's tests"

clean:
	rm -rf $(VENV) data/demo data/*.duckdb data/*.duckdb.* .pytest_cache .dagster_home
