# ingestd: two set-up commands that work on a fresh machine.
#   make demo   run the demo on the embedded default (no services)
#   make test   install everything the tests need, then lint, type-check and test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install demo test lint typecheck pytest bench kafka kafka-stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	scripts/system-deps.sh --no-postgres
	$(BIN)/ingestd demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collected no test: make treats that as the failure it is.
# versitygw (the tests' second S3 server) is built once with Go and cached in
# $$VERSITYGW_CACHE (default ~/.cache/ingestd-versitygw).
pytest: $(STAMP)
	scripts/system-deps.sh
	scripts/s3/versitygw.sh build > /dev/null
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/stream_bench.py

# A development broker on 127.0.0.1:9092 (jars from Maven Central, cached in ~/.cache).
kafka:
	scripts/kafka/broker.sh fetch
	scripts/kafka/broker.sh start 9092 .ingestd/kafka

kafka-stop:
	scripts/kafka/broker.sh stop .ingestd/kafka

clean:
	rm -rf .ingestd demo-out .pytest_cache .mypy_cache .ruff_cache
