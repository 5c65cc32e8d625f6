"""Facts projection throughput: how fast a backlog of call and agent events becomes facts.

    .venv/bin/python bench/reporting/projection.py [--agents 40] [--calls 40]

Starts its own Kafka broker and PostgreSQL server, publishes the synthetic traffic of the
integration tests (2 tenants × 2 campaigns, ``--agents`` per campaign, ``--calls`` each)
to fresh topics, then starts the reporting service on SQLite and on PostgreSQL and times
the projection of the whole backlog (group join included). Checks the KPIs against the
generator's recount, so a fast but wrong projection does not pass. Writes
bench/results/reporting.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "reporting.md"
# the traffic generator and helpers of the reporting integration tests
sys.path.insert(0, str(ROOT / "services" / "reporting" / "tests" / "integration"))

from reporting_kit import get_kpis, publish, wait_projected  # noqa: E402
from reporting_traffic import expected_campaign, simulate  # noqa: E402

from common.infra.kafka_local import LocalKafkaBroker  # noqa: E402
from common.infra.postgres_local import LocalPostgres  # noqa: E402
from common.testing.kafka_tools import unique_name  # noqa: E402
from common.testing.services import bearer, running_service  # noqa: E402
from common.topics import ensure_topics  # noqa: E402
from reporting.main import SPEC  # noqa: E402


async def run(agents: int, calls: int, partitions: int) -> list[str]:
    traffic = simulate(agents_per_campaign=agents, calls_per_agent=calls,
                       unhandled_per_campaign=agents * calls)
    total = sum(traffic.log.counts().values())
    lines: list[str] = []
    with LocalKafkaBroker() as kafka, tempfile.TemporaryDirectory() as tmp:
        postgres = LocalPostgres().start()
        try:
            prefix = unique_name("bench") + "."
            await ensure_topics(kafka.bootstrap_servers, prefix=prefix,
                                partitions_override=partitions)
            await publish(kafka.bootstrap_servers, prefix, traffic.log.by_topic)
            name = f"bench_{uuid.uuid4().hex[:8]}"
            postgres.create_database(name)
            for label, url in (("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db"),
                               ("postgres", postgres.dsn(name))):
                began = time.perf_counter()
                async with running_service(SPEC, kafka_bootstrap=kafka.bootstrap_servers,
                                           database_url=url, topic_prefix=prefix) as svc:
                    await wait_projected(svc, traffic.log.counts(), timeout_s=600)
                    elapsed = time.perf_counter() - began
                    tenant, campaign = traffic.tenants[0], traffic.campaigns[0]
                    got = await get_kpis(svc, f"/v1/campaigns/{campaign}/kpis", bearer(tenant))
                    want = expected_campaign(traffic.by_campaign[(tenant, campaign)])
                    assert got["dials"] == want["dials"] and got["conversions"] == want[
                        "conversions"], (got, want)
                lines.append(f"| {label} | {total} | {elapsed:.1f} | {total / elapsed:,.0f} |")
                print(lines[-1], flush=True)
        finally:
            postgres.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=40, help="agents per campaign")
    parser.add_argument("--calls", type=int, default=40, help="handled calls per agent")
    parser.add_argument("--partitions", type=int, default=6)
    args = parser.parse_args()
    rows = asyncio.run(run(args.agents, args.calls, args.partitions))
    table = "\n".join([
        "# Reporting projection benchmark", "",
        f"`.venv/bin/python bench/reporting/projection.py --agents {args.agents} --calls {args.calls} "
        f"--partitions {args.partitions}` (start-up and group join included)", "",
        "| database | events | seconds | events/s |", "|---|---:|---:|---:|", *rows, ""])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
