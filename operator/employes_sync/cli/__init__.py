"""`employes-sync`: one command line for the local sync, the worker, the operator and the simulator.

Each subcommand lives in its own module and is imported only when it runs, so `employes-sync worker`
in a Job pod does not pay for kopf or aiohttp imports it never uses.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from employes_sync import __version__

#: command name -> "module:attribute"
COMMANDS: dict[str, str] = {
    "sync": "employes_sync.cli.sync:sync",
    "worker": "employes_sync.cli.worker:worker",
    "timeline": "employes_sync.cli.inspect:timeline",
    "queue": "employes_sync.cli.inspect:queue",
    "rebuild": "employes_sync.cli.inspect:rebuild",
    "simulate": "employes_sync.cli.simulate:simulate",
    "operator": "employes_sync.cli.operator:operator",
    "trigger": "employes_sync.cli.trigger:trigger",
}

HELP = {
    "sync": "Sync a company from the Employes API into PostgreSQL and build timelines.",
    "worker": "Process one queued batch (what a Kubernetes Job runs).",
    "timeline": "Show one employee's timeline, oldest first.",
    "queue": "Show the batch queue by status, or prune finished batches.",
    "rebuild": "Rebuild timelines from stored raw data without calling the API.",
    "simulate": "Serve a simulated Employes API with deterministic demo data.",
    "operator": "Run the Kubernetes operator.",
    "trigger": "Ask the operator for a sync of an EmployesSync resource now.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every command module.
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="employes-sync")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Employes.nl payroll data into PostgreSQL timelines, locally or as a Kubernetes operator."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL at INFO; ours are logged by the client with bounded detail.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


def main() -> None:
    sys.exit(cli.main(prog_name="employes-sync", standalone_mode=True))
