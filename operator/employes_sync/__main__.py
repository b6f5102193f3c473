"""`python -m employes_sync`: the same CLI, for worker processes started with this interpreter."""

from employes_sync.cli import main

main()
