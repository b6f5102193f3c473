#!/bin/sh
# Run the fault-injection suite (with the operator's end-to-end tests, mapped to rows in conftest.py)
# and regenerate docs/reliability.md from its outcomes.
set -e
cd "$(dirname "$0")/../.."
ESYNC_RELIABILITY_REPORT=docs/reliability.md exec python -m pytest tests/reliability tests/test_operator_e2e.py -q "$@"
