"""Local infrastructure for tests, benchmarks and ``make run``, without Docker.

``kafka_local`` runs a real single-node Apache Kafka (KRaft) broker from jars fetched from
Maven Central; ``postgres_local`` runs a private PostgreSQL cluster from Debian's packages.
"""
