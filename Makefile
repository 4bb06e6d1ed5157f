# One-command setup: `make demo` and `make test` create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv test bench faults demo clean

help:
	@echo "make demo    run the virtual board on a bundled real EMG recording and record a session"
	@echo "make test    run the whole test suite (creates .venv on first use)"
	@echo "make bench   print the measured budgets and benchmarks"
	@echo "make faults  power cuts, link faults and host crashes on the virtual board (records lost must be 0)"
	@echo "make venv    create .venv and install myotwitch with its test extras"
	@echo "make clean   remove .venv and caches"

# MicroPython's ESP32 type stubs shadow CPython's stdlib (time, select, ...), so they live in
# their own folder, used only by tests/test_static_firmware.py (mypy --custom-typeshed-dir).
MPY_STUBS := $(VENV)/micropython-stubs

venv: $(STAMP) $(MPY_STUBS)/.installed

$(MPY_STUBS)/.installed: $(STAMP)
	$(BIN)/python -m pip install -qq --no-user --upgrade --target $(MPY_STUBS) 'micropython-esp32-stubs==1.29.0.post1'
	touch $@

# Reinstall only when the project's dependencies change. pip -qq prints errors only: the
# build backend's notices about the bundled data folders would bury them.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[test]'
	touch $(STAMP)

test: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The published peers (neurokit2, biosppy) are bench-only: installed here, never by `make test`.
bench: venv
	$(BIN)/python -m pip install -qq -e '.[test,bench]'
	$(BIN)/python -m bench.run

demo: venv
	$(BIN)/myotwitch demo

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info host/*.egg-info

# Fault injection only (bench_faults is also part of `make bench`).
faults: venv
	$(BIN)/python -m bench.run faults
