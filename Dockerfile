# One image for every Kaden service (the command picks the service); see deploy/k8s.
FROM python:3.11-slim
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
WORKDIR /app
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 PYTHONDONTWRITEBYTECODE=1 \
    PATH=/app/.venv/bin:$PATH
COPY pyproject.toml uv.lock ./
COPY libs libs
COPY services services
RUN uv sync --frozen --no-dev --all-packages --no-editable \
    && mkdir -p /var/lib/kaden/registries && chown 10001 /var/lib/kaden/registries
USER 10001
EXPOSE 8000
CMD ["kaden", "--help"]
