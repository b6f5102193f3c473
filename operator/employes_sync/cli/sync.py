"""`employes-sync sync`: one run on this machine, the same pipeline the operator runs.

The inline part runs in this process; the batches run as `employes-sync worker` processes, exactly
the command a Kubernetes Job runs, with the same retries and backoff.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from employes_sync.cli.common import (
    TOKEN_ENV,
    database_option,
    echo_json,
    extra_ca,
    fail,
    open_database,
    plural,
    read_token,
    resolve_database,
)
from employes_sync.cli.progress import ProgressLine
from employes_sync.cli.signals import Interrupted, SignalGuard
from employes_sync.cli.webhooks import CliWebhook, delivering, webhook_from_options, webhook_options
from employes_sync.employes.errors import AuthenticationError, EmployesError
from employes_sync.employes.fakedata import AS_OF as DEMO_AS_OF
from employes_sync.executors.local import RunLost, sync_locally
from employes_sync.pipeline import RunSummary
from employes_sync.settings import SettingsError, SyncSettings
from employes_sync.store.runs import RunAlreadyRunning

DEMO_EMPLOYEES = 78


@contextlib.contextmanager
def demo_api(employees: int) -> Iterator[tuple[str, str, str]]:
    """The simulator in this process, with the real API's limit: 5 requests/second, 80 ms latency."""
    from employes_sync.employes.fakedata import DEMO_COMPANY_ID, DEMO_TOKEN
    from employes_sync.employes.simulator import SimulatorConfig, serve_in_thread

    config = SimulatorConfig(employees=employees, requests_per_second=5.0, latency_ms=80)
    with serve_in_thread(config) as sim:
        assert sim.url is not None  # set once it serves
        yield sim.url, DEMO_COMPANY_ID, DEMO_TOKEN


@click.command(
    epilog=f"The API token is read from ${TOKEN_ENV} or --token-file (never from the command line, "
    "where `ps` would show it). The database URL from --database-url or $DATABASE_URL; without "
    "either, an embedded PostgreSQL in $EMPLOYES_SYNC_DATA_DIR (default ~/.local/share/employes-sync). "
    "Exit codes: 0 synced, 1 failed, 2 usage error, 130/143 stopped by SIGINT/SIGTERM."
)
@click.option(
    "--api-url", default=SyncSettings.default("api_url"), show_default=True, help="Employes API base URL."
)
@click.option("--company-id", help="The company's UUID in Employes.")
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"File holding the API token (default: ${TOKEN_ENV}).",
)
@database_option
@click.option(
    "--demo", is_flag=True, help=f"Sync {DEMO_EMPLOYEES} demo employees from the built-in simulator."
)
@click.option("--demo-employees", type=click.IntRange(1, 100_000), default=DEMO_EMPLOYEES, hidden=True)
@click.option(
    "--mode",
    type=click.Choice(["interactive", "background"]),
    default="interactive",
    show_default=True,
    help="background queues everything (no inline part) at a lower priority.",
)
@click.option(
    "--inline",
    "inline_count",
    type=int,
    default=SyncSettings.default("inline_count"),
    show_default=True,
    help="Employees processed before the batches start (0-50).",
)
@click.option(
    "--batch-size",
    type=int,
    default=SyncSettings.default("batch_size"),
    show_default=True,
    help="Employees per batch (1-500).",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Worker processes at once."
)
@click.option(
    "--max-attempts",
    type=int,
    default=SyncSettings.default("max_attempts"),
    show_default=True,
    help="Attempts per batch (1-10).",
)
@click.option(
    "--backoff-seconds",
    type=float,
    default=SyncSettings.default("backoff_seconds"),
    show_default=True,
    help="Base of the exponential backoff between a batch's attempts.",
)
@click.option(
    "--requests-per-second",
    type=float,
    default=SyncSettings.default("requests_per_second"),
    show_default=True,
    help="The API's limit, shared by every process of the run.",
)
@click.option(
    "--incremental", is_flag=True, help="Skip employments of employees whose dt_update is unchanged."
)
@click.option(
    "--listing-deadline",
    type=click.FloatRange(1, 86400),
    default=SyncSettings.default("listing_deadline_seconds"),
    show_default=True,
    help="Seconds listing the employees (and the inline part) may take in all, retries included.",
)
@click.option(
    "--run-lease-seconds",
    type=click.FloatRange(1, 3600),
    default=SyncSettings.default("run_lease_seconds"),
    hidden=True,
)
@click.option(
    "--metrics-port", type=click.IntRange(0, 65535), default=None, help="Serve Prometheus metrics here."
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address for --metrics-port (0.0.0.0: every interface).",
)
@click.option(
    "--locale",
    type=click.Choice(["en", "nl"]),
    default="en",
    show_default=True,
    help="Language of timeline titles and descriptions (nl: Dutch words, dates and amounts).",
)
@webhook_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def sync(
    api_url: str,
    company_id: str | None,
    token_file: Path | None,
    database_url: str | None,
    demo: bool,
    demo_employees: int,
    mode: str,
    inline_count: int,
    batch_size: int,
    workers: int,
    max_attempts: int,
    backoff_seconds: float,
    requests_per_second: float,
    incremental: bool,
    listing_deadline: float,
    run_lease_seconds: float,
    metrics_port: int | None,
    metrics_host: str,
    locale: str,
    as_json: bool,
    **webhook: Any,
) -> None:
    """Sync a company from the Employes API into PostgreSQL and build its timelines."""
    hook = webhook_from_options(webhook)
    ctx = click.get_current_context()
    if demo:
        given = [
            f"--{name.replace('_', '-')}"
            for name in ("company_id", "api_url")
            if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
        ]
        if given:
            fail(f"--demo syncs the built-in simulator's company: leave out {' and '.join(given)}", 2)

    def settings_for(api_url: str, company_id: str) -> SyncSettings:
        try:
            return SyncSettings(
                scope=f"local/{company_id}",
                company_id=company_id,
                api_url=api_url,
                requests_per_second=requests_per_second,
                inline_count=inline_count,
                batch_size=batch_size,
                max_attempts=max_attempts,
                backoff_seconds=backoff_seconds,
                backoff_max_seconds=max(backoff_seconds * 16, 1.0),
                incremental=incremental,
                listing_deadline_seconds=listing_deadline,
                run_lease_seconds=run_lease_seconds,
                trigger="cli",
                mode=mode,  # type: ignore[arg-type]
                locale=locale,
                # The demo's data is generated as of a fixed day: its timelines are built for that day.
                **({"as_of": DEMO_AS_OF.isoformat()} if demo else {}),  # type: ignore[arg-type]
                webhooks=(hook.subscription(),) if hook else (),
            )
        except SettingsError as exc:
            fail(str(exc), 2)

    guard = SignalGuard()
    summary: RunSummary | None = None
    delivered: dict[str, Any] = {}
    try:
        with guard, contextlib.ExitStack() as stack:
            if demo:
                api_url, company_id, token = stack.enter_context(guard.entered(demo_api(demo_employees)))
            else:
                if not company_id:
                    fail("missing --company-id", 2)
                settings_for(api_url, company_id)  # every usage error before the token is asked for
                token = read_token(token_file)
            extra_ca()  # a bad $EMPLOYES_SYNC_EXTRA_CA_FILE is one line now, not a TLS error per request
            settings = settings_for(api_url, company_id)
            dsn = stack.enter_context(guard.entered(resolve_database(database_url)))
            if metrics_port is not None:
                _serve_metrics(stack, metrics_host, metrics_port, dsn)
            summary = guard.run(_sync(settings, dsn, token, workers, as_json, guard, hook, delivered))
    except Interrupted as exc:
        fail(f"interrupted by {exc} before the run started; nothing was left running", exc.exit_code)
    assert summary is not None
    _report(summary, as_json, delivered if hook else None)
    if guard.signum is not None:
        sys.exit(128 + guard.signum)
    sys.exit(0 if summary.succeeded else 1)


def _serve_metrics(stack: contextlib.ExitStack, host: str, port: int, dsn: str) -> None:
    from employes_sync.metrics import serve_metrics

    try:
        server = serve_metrics(port, dsn, addr=host)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        fail(f"cannot serve metrics on {host}:{port}: {reason} (--metrics-host, --metrics-port)", 2)
    stack.callback(server.close)


async def _sync(
    settings: SyncSettings,
    dsn: str,
    token: str,
    workers: int,
    quiet: bool,
    guard: SignalGuard,
    hook: CliWebhook | None = None,
    delivered: dict[str, Any] | None = None,
) -> RunSummary:
    progress = ProgressLine(enabled=not quiet)
    on_response = None
    with contextlib.suppress(ImportError):
        from employes_sync.metrics import observe_api_response

        on_response = observe_api_response
    async with (
        open_database(dsn) as pool,
        delivering(pool, dsn, settings.scope, hook, {} if delivered is None else delivered),
    ):
        try:
            return await sync_locally(
                settings, pool, dsn, token, workers=workers, progress=progress, on_response=on_response,
                stop=guard.watching(), stop_reason=lambda: guard.reason,
            )  # fmt: skip
        except (RunAlreadyRunning, RunLost) as exc:
            fail(str(exc))
        except AuthenticationError as exc:
            fail(f"{exc} (${TOKEN_ENV} or --token-file)")
        except EmployesError as exc:
            fail(str(exc))
        finally:
            progress.close()


def _report(summary: RunSummary, as_json: bool, webhooks: dict[str, Any] | None = None) -> None:
    try:
        _print_summary(summary, as_json, webhooks)
    except BrokenPipeError:  # `sync | head`: the reader left; the exit code still tells the outcome
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def headline(summary: RunSummary) -> str:
    """The first line of the summary: what happened to how many employees, in words."""
    s = summary.summary
    listed = s["employees_processed"]
    if summary.succeeded:
        return (
            f"Synced {plural(listed, 'employee')}: {s['immediately_processed']} processed immediately, "
            f"{s['queued_for_processing']} queued"
        )
    counts = f"{s.get('employees_synced', 0)} of {plural(listed, 'employee')} synced"
    if s.get("employees_failed"):
        counts += f", {s['employees_failed']} failed"
    if s.get("employees_unfinished"):
        counts += f", {s['employees_unfinished']} not done"
    if summary.status == "interrupted":
        return f"Sync INTERRUPTED (run {summary.run_id}): {counts}; the next sync does the rest"
    return f"Sync FAILED (run {summary.run_id}): {counts}"


def _print_summary(summary: RunSummary, as_json: bool, webhooks: dict[str, Any] | None = None) -> None:
    data: dict[str, Any] = {
        "success": summary.succeeded,
        "status": summary.status,
        "run_id": summary.run_id,
        "result": summary.summary,
    }
    if summary.error:
        data["error"] = summary.error
    if webhooks is not None:
        data["webhooks"] = webhooks
    if as_json:
        echo_json(data)
        return
    s = summary.summary
    raw = s["raw_records"]
    batches = s["batches"]
    click.echo(headline(summary))
    if summary.status == "interrupted" and summary.error:
        click.echo(f"  {summary.error}")
    if took := s.get("took_over"):
        click.echo(f"  took over run {took['run_id']}: {took.get('error') or 'its owner was gone'}")
    if s.get("time_to_first_feedback_seconds") is not None:
        click.echo(f"  time to first feedback: {s['time_to_first_feedback_seconds']:.2f} s")
    click.echo(f"  employments fetched:    {s['history_processed']}")
    click.echo(
        f"  timeline events:        {s['events_created']} new, {s.get('events_updated', 0)} updated, "
        f"{s.get('events_removed', 0)} removed (as of {s.get('timeline_as_of') or '?'})"
    )
    click.echo(f"  employees with events:  {s['employees_with_timelines']}")
    click.echo(
        f"  raw records:            {raw['new']} new, {raw['changed']} changed, {raw['unchanged']} unchanged"
    )
    if s.get("employees_removed"):
        shown = ", ".join(s.get("removed_employee_ids") or [])
        more = "" if len(s.get("removed_employee_ids") or []) == s["employees_removed"] else ", ..."
        click.echo(f"  no longer listed:       {s['employees_removed']} marked removed ({shown}{more})")
    if s.get("skipped_unchanged"):
        click.echo(f"  skipped (unchanged):    {s['skipped_unchanged']}")
    done, failed = batches.get("completed", 0), batches.get("failed", 0)
    line = f"  batches:                {done} completed, {failed} failed"
    if batches.get("closed"):
        line += f", {batches['closed']} closed unfinished"
    click.echo(f"{line} of {batches['total']}")
    for employee_id, reason in sorted(s.get("inline_handed_to_batches", {}).items()):
        click.echo(f"  employee {employee_id} handed to a batch after the inline part failed: {reason}")
    for failed_batch in s["failed_batches"]:
        click.echo(
            f"  failed batch {failed_batch.get('batch_no') or failed_batch['id']} after "
            f"{plural(failed_batch['attempts'], 'attempt')}: {failed_batch['error']}"
        )
    for employee_id, reason in sorted(s["employee_errors"].items()):
        click.echo(f"  employee {employee_id}: {reason}")
    for where, reason in s.get("invalid_employees", {}).items():
        click.echo(f"  invalid employee at {where}: {reason}")
    if webhooks is not None:
        from employes_sync.webhooks.delivery import summary_line

        click.echo(f"  webhook events:         {summary_line(webhooks)}")
