#!/bin/sh
# Run the fault-injection suite and regenerate docs/reliability.md from its outcomes.
set -e
cd "$(dirname "$0")/../.."
ESYNC_RELIABILITY_REPORT=docs/reliability.md exec python -m pytest tests/reliability -q "$@"
