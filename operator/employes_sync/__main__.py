"""`employes-sync` and `python -m employes_sync` (how workers start): the CLI, its imports interruptible.

The console script imports this module, which needs only the standard library, and imports the CLI
(click and its helpers) inside `main`, where an interrupt can be caught. Before, the script imported
the CLI itself, and a Ctrl-C in the first half-second printed a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import sys

#: As `employes_sync.cli.common.ERROR_PREFIX` + `INTERRUPTED_EARLY`, which cannot be imported yet.
INTERRUPTED_WHILE_STARTING = "employes-sync: error: interrupted by SIGINT"


def main() -> None:
    try:
        from employes_sync.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED_WHILE_STARTING + "\n")
        raise SystemExit(130) from None
    cli_main()


if __name__ == "__main__":
    main()
