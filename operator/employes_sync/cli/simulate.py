"""`employes-sync simulate`: the simulated Employes API as a standalone server.

For trying the operator or `sync` against something that behaves like the real service (its 5
requests/second limit, latency, a bearer token) without a payroll account.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING

import click

from employes_sync.employes.fakedata import DEMO_COMPANY_ID, DEMO_TOKEN

if TYPE_CHECKING:  # aiohttp is imported only when the command runs
    from employes_sync.employes.simulator import Simulator


@click.command("simulate")
@click.option(
    "--employees",
    "-n",
    type=click.IntRange(0, 1_000_000),
    default=78,
    show_default=True,
    help="How many employees the company has.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8089,
    show_default=True,
    help="Port to listen on (0 = any free port).",
)
@click.option(
    "--requests-per-second",
    type=click.FloatRange(0, min_open=False),
    default=5.0,
    show_default=True,
    help="Rate limit per token, answered with 429 + Retry-After (0 = none).",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(0),
    default=80.0,
    show_default=True,
    help="Delay added to every response.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the generated data and faults.")
@click.option(
    "--fault-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of requests answered with a random 500/503.",
)
@click.option(
    "--token",
    envvar="EMPLOYES_SIMULATOR_TOKEN",
    default=DEMO_TOKEN,
    show_default=True,
    help="Bearer token the simulator accepts (or $EMPLOYES_SIMULATOR_TOKEN); the default is the demo "
    "token, which `sync --demo` and the examples use.",
)
@click.option("--company-id", default=DEMO_COMPANY_ID, show_default=True, help="The (first) company id.")
@click.option(
    "--companies",
    type=click.IntRange(1, 100_000),
    default=1,
    show_default=True,
    help="How many companies to serve, each with --employees employees, its own id and its own rate limit. "
    "Company k (from 0) accepts TOKEN for k = 0 and TOKEN-k after that.",
)
@click.option(
    "--shared-token",
    is_flag=True,
    help="Every company accepts TOKEN (one rate limit for all, like an accountant's token).",
)
def simulate(
    employees: int,
    host: str,
    port: int,
    requests_per_second: float,
    latency_ms: float,
    seed: int,
    fault_rate: float,
    token: str,
    company_id: str,
    companies: int,
    shared_token: bool,
) -> None:
    """Serve a simulated Employes API until interrupted.

    Prints "BASE_URL COMPANY_ID" first, and one more such line for each further company.
    """
    from employes_sync.employes.simulator import Simulator, SimulatorConfig

    if not token.strip():
        raise click.BadParameter("must not be empty", param_hint="--token")
    config = SimulatorConfig(
        employees=employees,
        seed=seed,
        requests_per_second=requests_per_second,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        token=token.strip(),
        company_id=company_id,
        companies=companies,
        shared_token=shared_token,
    )
    asyncio.run(_serve(Simulator(config), host, port))


async def _serve(sim: Simulator, host: str, port: int) -> None:
    try:
        url = await sim.start(host, port)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None
    for company in sim.companies:
        click.echo(f"{url} {company.company_id}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()
        click.echo(f"served {sim.stats.total} requests: {sim.stats.by_status()}", err=True)
