# gradient-hunt: every target installs what it needs into .venv first (a file target).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# make gan [EPOCHS=] [DATASET=] [RUN=]
EPOCHS  ?= 60
DATASET ?= mnist
RUN     ?= runs/gan

.PHONY: help install test test-slow lint gan tensorboard bench-gan clean

help:
	@echo "make test                 install into .venv, run the fast test suite"
	@echo "make gan [EPOCHS= DATASET= RUN=]   train the DCGAN (resumes RUN if it exists)"
	@echo "make tensorboard          TensorBoard over runs/ on http://127.0.0.1:6006"
	@echo "make test-slow            slow tests (real training on the 5k MNIST subset)"
	@echo "make bench-gan            DCGAN vs the TensorFlow-tutorial loop: speed and time-to-quality"
	@echo "make lint | make clean"

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

gan: $(STAMP)
	$(BIN)/gan-tf train --dataset $(DATASET) --epochs $(EPOCHS) --run $(RUN) --resume

tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir runs --host 127.0.0.1 --port 6006

bench-gan: $(STAMP)
	$(BIN)/python benchmarks/gan_speed.py

clean:
	rm -rf $(VENV) runs .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
