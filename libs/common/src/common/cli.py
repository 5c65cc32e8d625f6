"""``kaden``: the platform's command line.

    kaden token --tenant T --scope S  a bearer token for the embedded default
    kaden topics --bootstrap HOST:P   create the platform's topics (idempotent)
    kaden migrate SERVICE             apply a service's migrations (KADEN_DATABASE_URL)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from pathlib import Path

from common.auth import OPERATOR_SCOPE, TENANT_SCOPES, issue_token
from common.topics import ensure_topics

DEFAULT_SCOPES = list(TENANT_SCOPES)


def _run_dir() -> Path:
    return Path(os.environ.get("KADEN_RUN_DIR", ".run"))


def jwt_secret(run_dir: Path) -> str:
    """The embedded default's signing key: ``KADEN_JWT_SECRET`` or a generated file."""
    if os.environ.get("KADEN_JWT_SECRET"):
        return os.environ["KADEN_JWT_SECRET"]
    path = run_dir / "jwt-secret"
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def cmd_token(args: argparse.Namespace) -> int:
    scopes = args.scope or DEFAULT_SCOPES
    if args.operator:
        scopes = [*scopes, OPERATOR_SCOPE]
    print(issue_token(jwt_secret(_run_dir()), tenant_id=args.tenant, subject=args.subject,
                      scopes=scopes, ttl_s=args.ttl_hours * 3600))
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    created = asyncio.run(ensure_topics(args.bootstrap, prefix=args.prefix,
                                        partitions_override=args.partitions))
    print(f"created {len(created)} topic(s): {', '.join(created) or '-'}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    import importlib

    from common.migrations import upgrade_to_head

    try:
        spec = importlib.import_module(f"{args.service}.main").SPEC
    except ModuleNotFoundError:
        print(f"kaden migrate: no service named {args.service!r}", file=sys.stderr)
        return 2
    settings = spec.settings_cls()
    asyncio.run(upgrade_to_head(settings.database_url, spec.migrations,
                                [spec.metadata] if spec.metadata is not None else []))
    print(f"{args.service}: migrated to head")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kaden", description="Kaden outbound contact center")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("token", help="issue a bearer token for the embedded default")
    p.add_argument("--tenant", required=True)
    p.add_argument("--subject", default="cli")
    p.add_argument("--scope", action="append", help=f"repeatable; default: {' '.join(DEFAULT_SCOPES)}")
    p.add_argument("--operator", action="store_true", help=f"add {OPERATOR_SCOPE} (cross-tenant)")
    p.add_argument("--ttl-hours", type=int, default=8)
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("topics", help="create the platform's Kafka topics")
    p.add_argument("--bootstrap", default=os.environ.get("KADEN_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    p.add_argument("--prefix", default=os.environ.get("KADEN_KAFKA_TOPIC_PREFIX", ""))
    p.add_argument("--partitions", type=int, default=None, help="override every topic's partitions")
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("migrate", help="apply a service's database migrations")
    p.add_argument("service", help="leads, compliance, dialer, agent or reporting")
    p.set_defaults(func=cmd_migrate)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
