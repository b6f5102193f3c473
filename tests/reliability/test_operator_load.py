"""Load: many EmployesSync resources for different companies at once, one operator, one database.

Each company is its own simulator (own company id, token and data seed, a gateway limit of 50
requests/second); each resource has its own Secret and a client limit of 20 requests/second. The
operator runs as a process against kmock's emulator, Jobs run as local `employes-sync worker`
processes (tests/fixtures/kube.py), all against one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from employes_sync.employes.simulator import Simulator
from employes_sync.store.db import open_pool
from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import Cluster, JobRunner, OperatorProcess
from tests.reliability.helpers import State, assert_complete, snapshot
from tests.test_operator_e2e import NS, Env

pytestmark = pytest.mark.slow

#: 20 companies as the issue asks; small ones (12 employees, one Job each) so the run fits a 2-core box.
COMPANIES = 20
EMPLOYEES = 12
GATEWAY_RPS = 50.0
CLIENT_RPS = 20


async def _states(database_url: str, scopes: list[str]) -> tuple[dict[str, State], list[tuple[str, int]]]:
    pool = await open_pool(database_url)
    try:
        states = {scope: await snapshot(pool, scope) for scope in scopes}
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT employee_id, count(DISTINCT scope)::int FROM ("
                " SELECT scope, employee_id FROM employes_raw_data"
                " UNION ALL SELECT scope, employee_id FROM employes_timeline_v2) AS t"
                " GROUP BY employee_id HAVING count(DISTINCT scope) > 1"
            )
            shared = [(str(e), int(n)) for e, n in await cur.fetchall()]
        return states, shared
    finally:
        await pool.close()


@pytest.mark.fault(
    "Load",
    "20 EmployesSync resources for 20 companies at once, one database",
    "20 resources (12 employees each, own simulator, token and Secret) created at once in one namespace:"
    " every run ends Ready; each scope holds exactly its company's employees and timeline events,"
    " no employee id under two scopes; no 429 from any company's gateway (client 20/s under a 50/s limit)",
)
def test_many_companies_at_once_stay_apart(
    cluster_with_crd: Cluster,
    job_runner: JobRunner,
    operator_factory: Callable[..., OperatorProcess],
    database_url: str,
    make_simulator: Callable[..., Simulator],
) -> None:
    sims = [
        make_simulator(employees=EMPLOYEES, seed=100 + i,
                       company_id=str(uuid.UUID(int=0xC0FFEE00 + i, version=4)),
                       token=f"token-company-{i:02d}", requests_per_second=GATEWAY_RPS)
        for i in range(COMPANIES)
    ]  # fmt: skip
    env = Env(cluster_with_crd, job_runner, operator_factory, database_url, sims[0])
    names = [f"company-{i:02d}" for i in range(COMPANIES)]
    for name, sim in zip(names, sims, strict=True):
        env.secret(name=name, token=sim.config.token)
    op = env.operator(allowed_urls=[str(sim.url) for sim in sims])
    started = time.monotonic()
    for name, sim in zip(names, sims, strict=True):
        ref: dict[str, Any] = {"name": name, "key": "token"}
        env.resource(
            name,
            api__baseUrl=sim.url,
            api__companyId=sim.config.company_id,
            api__tokenSecretRef=ref,
            api__requestsPerSecond=CLIENT_RPS,
            database__dsnSecretRef={"name": name, "key": "dsn"},
            inline__count=2,
            batches__size=10,
        )
    try:
        for name in names:
            env.wait_condition("Ready", "True", "RunSucceeded", name=name, timeout=120)
    except AssertionError:
        print(op.logs()[-6000:])
        raise
    elapsed = time.monotonic() - started

    for name in names:
        last = env.status(name)["lastRun"]
        assert last["state"] == "succeeded" and last["employees"] == EMPLOYEES, (name, last)
        assert env.timelines(name) == EMPLOYEES

    scopes = [f"{NS}/{name}" for name in names]
    states, shared = asyncio.run(_states(database_url, scopes))
    for scope, sim in zip(scopes, sims, strict=True):
        state = states[scope]
        assert_complete(state, sim)  # exactly this company's employees and events, once each
        assert {e for e, _ in state.raw_latest} == {p.id for p in sim.company}, scope
        assert state.rows["employes_raw_data"] == 2 * EMPLOYEES
    assert shared == [], f"employee ids stored under two scopes: {shared[:5]}"

    for name, sim in zip(names, sims, strict=True):
        assert sim.stats.rate_limited == 0, f"{name}: {sim.stats.rate_limited} requests got a 429"
        assert sim.stats.count(status=401) == 0, name
    jobs = [j["metadata"]["name"] for j in env.jobs()]
    assert len(jobs) == len(set(jobs)) == COMPANIES  # one Job per company, none duplicated
    assert max(job_runner.max_active.values()) <= 2
    print(f"{COMPANIES} companies Ready in {elapsed:.1f} s")
