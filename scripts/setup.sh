#!/usr/bin/env bash
# Installs everything Kaden needs on a fresh Debian machine; idempotent and quick when done.
#   - uv (from PyPI) and the locked Python environment (.venv, Python 3.11)
#   - PostgreSQL server binaries (Debian package) for the real-database tests
#   - the Apache Kafka broker jars (Maven Central), cached under ~/.cache/kaden
# Java 17+ and Maven must already be on the machine (they are on the build images).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
export UV_PYTHON_DOWNLOADS=never

for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required (Java 17+ and Maven)" >&2; exit 1; }
done

if ! command -v uv >/dev/null; then
  say "installing uv from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check uv
fi

PYTHON=${KADEN_PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || { echo "error: $PYTHON not found (Kaden targets Python 3.11)" >&2; exit 1; }

say "syncing the locked Python environment (.venv)"
uv sync --frozen --all-packages --group dev --group bench --python "$PYTHON" --quiet

if [ "${KADEN_SKIP_POSTGRES:-0}" != 1 ]; then
  .venv/bin/python -m common.infra.postgres_local ensure
fi

for version in ${KADEN_KAFKA_VERSIONS:-3.9.2}; do
  .venv/bin/python -m common.infra.kafka_local fetch --version "$version"
done
say "setup complete"
