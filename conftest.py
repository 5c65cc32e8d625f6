# Shared pytest plugins for the whole monorepo (real Kafka, real PostgreSQL, DB contract).
pytest_plugins = ["common.testing.infra_fixtures", "common.testing.db_fixtures"]
