# deepdescent — `make demo` trains the lecture's recipe, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
LINTED := src tests benchmarks examples

.PHONY: demo test lint bench data browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU wheel first: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

data:
	@if [ -e "$(FASHION)" ] || [ -e "$${DEEPDESCENT_DATA:-$$HOME/.deepdescent/datasets}/fashion-mnist/train-images-idx3-ubyte.gz" ]; then \
	  true; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	else \
	  echo "Fashion-MNIST is not installed. Install it with 'sudo apt-get install dataset-fashion-mnist'," ; \
	  echo "or put the four IDX files in ~/.deepdescent/datasets/fashion-mnist/ (deepdescent also"; \
	  echo "downloads them there on first use when the machine is online)."; \
	fi

# Headless Chromium renders the comparison report in a test (skipped without it).
browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then \
	  true; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
	  echo "Chromium is not installed: the test that renders report.html in a browser will be"; \
	  echo "skipped. Install it with 'sudo apt-get install chromium'."; \
	fi

demo: $(STAMP) data
	$(BIN)/deepdescent train

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy src/deepdescent

test: $(STAMP) data browser lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The benchmark's own environment: deepdescent plus its peers, Keras 3 with JAX.
BENCH := .bench-venv
$(BENCH)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/pip install -q --upgrade pip
	$(BENCH)/bin/pip install -q torch==2.13.0
	$(BENCH)/bin/pip install -q -e . keras jax pyhessian
	touch $(BENCH)/.installed

bench: $(BENCH)/.installed data
	$(BENCH)/bin/python benchmarks/lecture_fit.py --repeats 5

clean:
	rm -rf $(VENV) $(BENCH) runs
