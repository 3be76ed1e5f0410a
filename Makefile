# gradient-hunt: every target installs what it needs into .venv first (a file target).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# make gan [EPOCHS=] [DATASET=] [RUN=]
EPOCHS  ?= 80
DATASET ?= mnist
# make tune / train-cnn [DATA=] [TRIALS=] [RUN=]; defaults: the demo folder that `make demo` builds
DATA    ?= runs/demo/data
# TRIALS: stop the search after that many trials (any tuner); unset: Hyperband runs until its budget
TRIALS  ?=
BUDGET  ?= 15
WORKERS ?= 2
PORT    ?= 8470
# RUN is each target's run directory, with a default of its own; train-cnn reads the tuned
# hyperparameters of the default tuning run (or HPARAMS=path/to/best_hparams.json).
GAN_RUN  = $(or $(RUN),runs/gan)
TUNE_RUN = $(or $(RUN),runs/tune)
CNN_RUN  = $(or $(RUN),runs/hunt)
HPARAMS ?= runs/tune/best_hparams.json
TRIALS_ARG = $(if $(TRIALS),--trials $(TRIALS))
# Fashion-MNIST offline: Debian's dataset-fashion-mnist (apt-get as root, else through password-less sudo).
FASHION_DIR := /usr/share/datasets/fashion-mnist
SUDO := $(if $(filter 0,$(shell id -u)),,sudo -n)
FASHION_DEP = $(if $(filter fashion,$(DATASET)),fashion-data)

.PHONY: fashion-data help install test test-slow lint gan tune tune-distributed train-cnn demo tensorboard bench-gan gan-seeds bench-hunt hunt-bench hunt-real bench-tune tune-vs-untuned clean

help:
	@echo "make test                 install into .venv, run the fast test suite"
	@echo "make gan [EPOCHS= DATASET= RUN=]   train the DCGAN (resumes RUN if it exists)"
	@echo "make tune [DATA= TRIALS= BUDGET= RUN=]   keras-tuner search -> RUN/best_hparams.json (RUN=runs/tune)"
	@echo "make tune-distributed [DATA= WORKERS= TRIALS= BUDGET= RUN=]   the same, a chief + WORKERS workers on 127.0.0.1"
	@echo "make train-cnn [DATA= RUN= HPARAMS= FRESH=1]   train the hunt CNN (RUN=runs/hunt; tuned when HPARAMS exists)"
	@echo "make demo                 GAN -> hunt dataset -> tune -> CNN -> submission, scored"
	@echo "make tensorboard          TensorBoard over runs/ on http://127.0.0.1:6006"
	@echo "make test-slow            slow tests (real training on the 5k MNIST subset)"
	@echo "make bench-gan            DCGAN vs the TensorFlow-tutorial loop: speed and time-to-quality"
	@echo "make gan-seeds [DATASET=] make gan's defaults for 3 seeds: FCD/KID in two judges' spaces, mean and worst"
	@echo "make bench-hunt           hunt pipeline vs load-everything-then-fit: speed and memory"
	@echo "make hunt-bench           detector trained on one generator family, tested on 5 unseen families (MNIST, Fashion)"
	@echo "make hunt-real [REAL=]    detector on real AI-vs-Real data (REAL=../shared/data), 3 seeds, vs a plain CNN"
	@echo "make tune-vs-untuned      15-min search vs the untuned defaults, scored on held-out test images"
	@echo "make fashion-data         Fashion-MNIST offline (Debian's dataset-fashion-mnist; gan and gan-seeds with DATASET=fashion, and hunt-bench, run it)"
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

gan: $(STAMP) $(FASHION_DEP)
	$(BIN)/gan-tf train --dataset $(DATASET) --epochs $(EPOCHS) --run $(GAN_RUN) --resume

tune: $(STAMP)
	$(BIN)/hunt-tune $(DATA) --run $(TUNE_RUN) --budget-minutes $(BUDGET) $(TRIALS_ARG)

# keras-tuner's own chief/worker mode: the chief serves the oracle, workers run trials.
tune-distributed: $(STAMP)
	@set -e; export KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=$(PORT); \
	KERASTUNER_TUNER_ID=chief $(BIN)/hunt-tune $(DATA) --run $(TUNE_RUN) --tuner random --budget-minutes $(BUDGET) \
	  $(TRIALS_ARG) & chief=$$!; \
	pids=""; for i in $$(seq 0 $$(($(WORKERS) - 1))); do \
	  KERASTUNER_TUNER_ID=tuner$$i $(BIN)/hunt-tune $(DATA) --run $(TUNE_RUN) --tuner random --budget-minutes $(BUDGET) \
	    $(TRIALS_ARG) \
	    --threads 1 & pids="$$pids $$!"; \
	done; for p in $$pids; do wait $$p || true; done; wait $$chief

train-cnn: $(STAMP)
	$(BIN)/hunt-tf train $(DATA) --run $(CNN_RUN) $(if $(wildcard $(HPARAMS)),--hparams $(HPARAMS)) $(if $(FRESH),--fresh)

demo: $(STAMP)
	$(BIN)/python -m gradient_hunt.demo

tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir runs --host 127.0.0.1 --port 6006

bench-gan: $(STAMP)
	$(BIN)/python benchmarks/gan_speed.py

gan-seeds: $(STAMP) $(FASHION_DEP)
	$(BIN)/python benchmarks/gan_seeds.py --dataset $(DATASET)

bench-hunt: $(STAMP)
	$(BIN)/python benchmarks/hunt_speed.py

bench-tune: $(STAMP)
	$(BIN)/python benchmarks/tune_workers.py $(DATA)

hunt-bench: $(STAMP) fashion-data
	$(BIN)/python benchmarks/hunt_families.py

REAL ?= ../shared/data
hunt-real: $(STAMP)
	$(BIN)/python benchmarks/hunt_real.py --data $(REAL)

# needs runs/demo (make demo): a 15-minute search vs the untuned defaults, then both scored on the test set
tune-vs-untuned: $(STAMP)
	$(BIN)/python benchmarks/tune_vs_untuned.py

# Never fatal: without apt-get (or root / password-less sudo) Keras downloads Fashion-MNIST instead.
fashion-data:
	@if [ -d $(FASHION_DIR) ] || [ -d $(HOME)/.keras/datasets/fashion-mnist ]; then :; \
	elif command -v apt-get >/dev/null && { $(SUDO) apt-get install -y --no-install-recommends dataset-fashion-mnist \
	  || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends dataset-fashion-mnist; }; }; then :; \
	else echo "note: Debian's dataset-fashion-mnist could not be installed here; Keras will download Fashion-MNIST"; fi

clean:
	rm -rf $(VENV) runs .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
