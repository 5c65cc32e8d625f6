# Kaden: the two commands are `make run` (the platform on embedded defaults) and
# `make test` (every test, against a real Kafka broker and a real PostgreSQL).
SHELL := /bin/bash
PY := .venv/bin/python
PYTEST := .venv/bin/pytest
# Kafka versions the integration suite runs against: the default, then production's 4.x.
KAFKA_DEFAULT := 3.9.2
KAFKA_PROD := 4.1.1

.PHONY: setup run test test-fast lint bench schemas clean

setup:
	@KADEN_KAFKA_VERSIONS="$(KAFKA_DEFAULT) $(KAFKA_PROD)" scripts/setup.sh

run:
	@KADEN_KAFKA_VERSIONS="$(KAFKA_DEFAULT)" scripts/setup.sh
	@$(PY) -m simulator.devstack

test: setup lint
	@echo "==> all tests (Kafka $(KAFKA_DEFAULT), PostgreSQL, SQLite)"
	KADEN_KAFKA_VERSION=$(KAFKA_DEFAULT) $(PYTEST) -p no:cacheprovider
	@echo "==> Kafka integration tests again on Kafka $(KAFKA_PROD) (production runs 4.x)"
	KADEN_KAFKA_VERSION=$(KAFKA_PROD) $(PYTEST) -p no:cacheprovider -m kafka

test-fast:  ## unit tests only, no infrastructure
	$(PYTEST) -p no:cacheprovider -m "not kafka and not postgres and not e2e"

lint:
	.venv/bin/ruff check libs services tests bench
	.venv/bin/mypy libs/common/src libs/simulator/src services/leads/src services/dialer/src \
		services/agent/src services/compliance/src services/reporting/src

bench:
	$(PY) bench/backbone/run.py

schemas:
	$(PY) -m common.events.schemas

clean:
	rm -rf .run
