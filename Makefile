# Two commands set everything up: `make run` and `make test`. Both create .venv if missing
# and install the project into it (again only when pyproject.toml changes).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-fast lint docs findings clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sweep run studies/lr_momentum.py

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check sweeper tests studies
	$(BIN)/mypy sweeper

# The manual (docs/, mkdocs.yml) into site/; --strict fails on a broken link or a missing page.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# Every experiment of the course notes as a study, then docs/findings.md made from their
# results (needs MNIST and Fashion-MNIST under $$SWEEPER_DATA_DIR or ./data).
FINDINGS_STUDIES := tutorial_hidden_size tutorial_shuffle tutorial_momentum tutorial_optimizer \
	tutorial_normalization tutorial_zero_init tutorial_cnn_batchnorm small_digit_batch_lr \
	small_digit_hidden lr_decay_optimizer search_random search_bayes lenet_mnist seed_sources

findings: $(STAMP)
	for s in $(FINDINGS_STUDIES); do $(BIN)/sweep run studies/$$s.py --quiet || exit 1; done
	$(BIN)/sweep render docs/findings.template.md --out docs/findings.md

clean:
	rm -rf $(VENV) build site *.egg-info
