"""`employes-sync`: one command line for the local sync, the worker, the operator and the simulator.

Each subcommand lives in its own module and is imported only when it runs, so `employes-sync worker`
in a Job pod does not pay for kopf or aiohttp imports it never uses.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from employes_sync import __version__
from employes_sync.cli.common import ERROR_PREFIX, Terminated, fail, setup_logging

#: command name -> "module:attribute"
COMMANDS: dict[str, str] = {
    "sync": "employes_sync.cli.sync:sync",
    "worker": "employes_sync.cli.worker:worker",
    "timeline": "employes_sync.cli.inspect:timeline",
    "employees": "employes_sync.cli.employees:employees",
    "watch": "employes_sync.cli.watch:watch",
    "queue": "employes_sync.cli.inspect:queue",
    "rebuild": "employes_sync.cli.inspect:rebuild",
    "simulate": "employes_sync.cli.simulate:simulate",
    "operator": "employes_sync.cli.operator:operator",
    "trigger": "employes_sync.cli.trigger:trigger",
}

#: A Ctrl-C that no handler of the command caught (sync installs its own, which tells what it stopped).
INTERRUPTED_EARLY = "interrupted by SIGINT"

HELP = {
    "sync": "Sync a company from the Employes API into PostgreSQL and build timelines.",
    "worker": "Process one queued batch (what a Kubernetes Job runs).",
    "timeline": "Show one employee's timeline, oldest first.",
    "watch": "Print sync notifications (runs, batches, changed timelines) as they arrive.",
    "employees": "List a scope's employees, with those no longer listed by the API (--removed).",
    "queue": "Show the batch queue by status, or prune finished batches.",
    "rebuild": "Rebuild timelines from stored raw data without calling the API.",
    "simulate": "Serve a simulated Employes API with deterministic demo data.",
    "operator": "Run the Kubernetes operator.",
    "trigger": "Ask the operator for a sync of an EmployesSync resource now.",
}


def _verbose(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:
        setup_logging(value)


#: Added to every subcommand, so `employes-sync sync -v` works as well as `employes-sync -v sync`.
VERBOSE = click.Option(
    ["-v", "--verbose"],
    count=True,
    expose_value=False,
    is_eager=True,
    callback=_verbose,
    help="More logging (-v info, -vv debug).",
)


def usage_line(exc: click.UsageError) -> str:
    """Click's three-line `Usage / Try / Error` as one line: what is wrong, and where help is."""
    where = exc.ctx.command_path if exc.ctx is not None else "employes-sync"
    return f"{exc.format_message().rstrip('.')} (see '{where} --help')"


class _InterruptedWhileParsing(Exception):
    """A Ctrl-C while click parses the arguments (the eager `--version` and `-v` run there), carried
    past click's main, which would answer a KeyboardInterrupt with a blank line before our one."""


class LazyGroup(click.Group):
    """The command group: subcommands imported on use, and every error told the same way.

    Click keeps parsing and validating; only the way an error is shown changes: one
    `employes-sync: error: ...` line on stderr, exit 2 for a usage error.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            fail(usage_line(exc), 2)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except (click.Abort, _InterruptedWhileParsing):
            fail(INTERRUPTED_EARLY, 130)
        sys.exit(code if isinstance(code, int) else 0)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:
            raise _InterruptedWhileParsing from None

    def invoke(self, ctx: click.Context) -> Any:
        # Here, not in main(): click turns EPIPE into exit 1 before main() could see it.
        # A Ctrl-C before a command installs its own handler (while its modules import, say) is told
        # here too: click's own answer is a blank line and then "Aborted!".
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _stdout_closed()
        except KeyboardInterrupt:
            fail(INTERRUPTED_EARLY, 130)
        except Terminated:
            fail("terminated by SIGTERM; the embedded server was stopped", 143)

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
        if not any(p.name == "verbose" for p in command.params):
            command.params.append(VERBOSE)
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
    setup_logging(verbose)


def _stdout_closed() -> None:
    """`employes-sync timeline X | head`: the reader left; stop quietly, as `cat` does.

    Python would otherwise print "Exception ignored ... BrokenPipeError" when it flushes stdout at
    exit, and exit 120; pointing stdout at /dev/null first makes that flush succeed.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)


def main() -> None:
    cli.main(prog_name="employes-sync")


__all__ = ["COMMANDS", "ERROR_PREFIX", "cli", "main"]
