#!/bin/sh
# Run the fault-injection suite (with the operator's end-to-end tests and the security tests of other
# files, each marked with its rows: @pytest.mark.fault(*rows.X), see rows.py)
# and regenerate docs/reliability.md from its outcomes.
set -e
cd "$(dirname "$0")/../.."
ESYNC_RELIABILITY_REPORT=docs/reliability.md exec python -m pytest tests/reliability tests/test_operator_e2e.py \
    tests/test_operator_allowlists.py tests/test_chart.py tests/test_client_limits.py tests/test_crd.py \
    tests/test_settings.py tests/test_allowlist.py tests/test_validation.py tests/test_departures.py \
    tests/test_request_sync.py tests/test_webhooks.py tests/test_cli.py tests/test_cli_interruptions.py \
    tests/test_cli_summary.py tests/test_employes_client.py tests/test_cli_inputs.py tests/test_operator_cli.py \
    tests/containers/test_operator_containers.py tests/containers/test_pod_runner.py \
    -q "$@"
