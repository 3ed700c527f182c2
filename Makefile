# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv (if needed) and installs PolicyWatch with what it needs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-slow lint clean browser servers bench nginx extraction-report summary-report

# $(call apt_install,PACKAGES,OTHERWISE): the end of a recipe that has set $$missing to the missing packages:
# installs PACKAGES with apt-get if any is missing and we are root or have passwordless sudo, else says OTHERWISE.
define apt_install
[ -z "$$missing" ] && exit 0; \
if [ "$$(id -u)" = 0 ]; then sudo=""; \
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
else echo "Not installing$$missing (needs root or passwordless sudo): $(2)"; exit 0; fi; \
if ! command -v apt-get >/dev/null 2>&1; then echo "Not installing$$missing (no apt-get): $(2)"; exit 0; fi; \
echo "Installing$$missing with apt-get"; \
$$sudo apt-get update -qq && \
$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1) >/dev/null
endef

# The venv's own pip, not upgraded: what a user of a stock Python 3.11 has, so a dependency that only a newer pip
# resolves shows up here first.
$(BIN)/policywatch: pyproject.toml
	@echo "Setting up $(VENV): installing PolicyWatch and about 150 packages it and its tests use (Scrapy, lxml, numpy,"
	@echo "Chinese text tools …). The first time takes 1 to 3 minutes, depending on the network; later runs skip it."
	@start=$$(date +%s); \
	$(PYTHON) -m venv $(VENV) && \
	$(BIN)/python -m pip install --quiet -e ".[test]" && \
	echo "Installed in $$(( $$(date +%s) - start )) s."
	@touch $@

demo: $(BIN)/policywatch
	$(BIN)/policywatch demo

# `make test` leaves out the few tests that are long by nature (marked slow: the benchmarks run small, the wheel
# built and installed, ten crawls killed one after another, the service's schedules and a host's shared delay that
# wait out real seconds, workers stopped mid-job); `make test-slow` runs them, and CI runs both. Three workers on
# two cores: a test waiting on a server or a clock leaves its core to another (measured: -n 2 7 min 45 s, -n 3
# 6 min 27 s, -n 4 6 min 50 s; again on 2026-12-07, -n 3 4 min 46 s, -n 4 5 min 8 s; later that day -n 3 4 min 5 s,
# -n 4 4 min 12 s).
test: $(BIN)/policywatch browser
	$(BIN)/ruff check .
	$(BIN)/pytest -n 3 -m "not slow"

test-slow: $(BIN)/policywatch browser
	$(BIN)/pytest -n 3 -m slow

# The browser tests (tests/test_browser.py) open pages in headless Chromium, with CJK fonts for Chinese text.
# Installed with apt-get when missing, if we are root or have passwordless sudo; otherwise they are skipped.
BROWSER_PKGS := chromium fonts-noto-cjk

browser:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing=" chromium"; \
	if command -v dpkg-query >/dev/null 2>&1 && \
	   ! dpkg-query -W -f='$${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'ok installed'; then \
	  missing="$$missing fonts-noto-cjk"; fi; \
	$(call apt_install,$(BROWSER_PKGS),browser tests will be skipped)

# The servers some tests start on loopback (redis-server: crawl workers, crawler/politeness.py; postgresql: the
# store's PostgreSQL dialect). Installed with apt-get when missing, if we are root or have passwordless sudo
# (.ci/run runs this before `make test`); without them, their tests are skipped (failed when CI is set).
SERVER_PKGS := redis-server postgresql

servers:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing=" redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	$(call apt_install,$(SERVER_PKGS),their tests will be skipped)

lint: $(BIN)/policywatch
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) policywatch-demo bench-out .pytest_cache .ruff_cache

# PolicyWatch against bare Scrapy and urlwatch on generated portals (bench/); e.g.
# make bench BENCH_ARGS="--sites 2 --pages 10 --pairs 1". The venv has urlwatch and matplotlib (the bench extra,
# part of test). The portals are served by nginx, installed with apt-get when missing (as for the browser tests);
# without it the bench falls back to PolicyWatch's Python server, whose numbers are not comparable.
BENCH_ARGS ?=

bench: $(BIN)/policywatch nginx
	$(BIN)/python -m bench $(BENCH_ARGS)

nginx:
	@missing=""; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing=" nginx-light"; \
	$(call apt_install,nginx-light,the bench serves with Python)

# Generic extraction scored on every saved real page against hand-read values (tests/extraction_report.py);
# e.g. make extraction-report REPORT_ARGS="--verbose --expected more.toml"
REPORT_ARGS ?=

extraction-report: $(BIN)/policywatch
	$(BIN)/python -m tests.extraction_report $(REPORT_ARGS)

# The share of hand-read key facts of real policy texts that the digest's summaries keep (tests/summary_report.py);
# e.g. make summary-report REPORT_ARGS=--verbose
summary-report: $(BIN)/policywatch
	$(BIN)/python -m tests.summary_report $(REPORT_ARGS)
