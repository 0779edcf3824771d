# dietnet: `make demo` runs the pipeline on the example, `make test` the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch lies on this machine's disk; installing the pin first
# keeps `pip install -e .` from pulling a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0
DEMO := demo-output
EXAMPLE := examples

.PHONY: demo test lint format clean venv

$(BIN)/dietnet: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PIN)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/dietnet

venv: $(BIN)/dietnet

demo: $(BIN)/dietnet
	mkdir -p $(DEMO)
	$(BIN)/dietnet prepare $(EXAMPLE)/1kg-example-train.vcf.gz \
		--labels $(EXAMPLE)/1kg-example.panel.tsv -o $(DEMO)/dataset --force --no-progress
	$(BIN)/dietnet embed $(DEMO)/dataset --no-progress
	$(BIN)/dietnet train $(DEMO)/dataset -o $(DEMO)/model.dietnet --force --no-progress
	$(BIN)/dietnet predict $(DEMO)/model.dietnet $(EXAMPLE)/1kg-example-test.vcf.gz \
		-o $(DEMO)/predictions.tsv --force --no-progress
	$(BIN)/dietnet evaluate $(DEMO)/model.dietnet $(EXAMPLE)/1kg-example-test.vcf.gz \
		--labels $(EXAMPLE)/1kg-example.panel.tsv -o $(DEMO)/report --force --no-progress
	@echo "Demo outputs are in $(DEMO)/: dataset/ (prepare, embed), model.dietnet"
	@echo "(train), predictions.tsv (predict) and report/report.html (evaluate)."

test: $(BIN)/dietnet
	$(BIN)/python -m pytest -q

lint: $(BIN)/dietnet
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/dietnet
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(DEMO) .pytest_cache
