#!/usr/bin/env bash
# A real-cluster run: kind cluster, the image built and loaded, the chart with the demo simulator,
# a throwaway PostgreSQL, the examples applied, and a wait for Ready. Needs docker, kind, kubectl, helm.
#   tests/e2e/kind.sh            # create, test, delete
#   KEEP=1 tests/e2e/kind.sh     # leave the cluster running to look around
#   BASE_IMAGE=mirror/python:3.11.13-slim-bookworm tests/e2e/kind.sh   # build on a mirror of the base
set -euo pipefail

CLUSTER=${CLUSTER:-employes-sync-e2e}
NS=${NS:-payroll}
IMAGE=${IMAGE:-employes-sync:0.1.0}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TIMEOUT=${TIMEOUT:-600s}

cleanup() {
  if [ "${KEEP:-0}" != "1" ]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
kubectl config use-context "kind-$CLUSTER"

docker build ${BASE_IMAGE:+--build-arg "BASE_IMAGE=$BASE_IMAGE"} -t "$IMAGE" "$ROOT"
kind load docker-image "$IMAGE" --name "$CLUSTER"

kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" apply -f "$HERE/postgres.yaml"
kubectl -n "$NS" rollout status deployment/postgresql --timeout="$TIMEOUT"

helm upgrade --install employes-sync "$ROOT/charts/employes-sync" --namespace "$NS" \
  --set "watchNamespaces={$NS}" --set simulator.enabled=true \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --wait --timeout "$TIMEOUT"

kubectl -n "$NS" apply -f "$ROOT/examples/secret.yaml" -f "$ROOT/examples/employessync.yaml" \
  -f "$ROOT/examples/cronjob.yaml"
kubectl -n "$NS" wait esync/demo --for=condition=Ready --timeout="$TIMEOUT"
kubectl -n "$NS" get esync demo
test "$(kubectl -n "$NS" get esync demo -o jsonpath='{.status.lastRun.employees}')" = "78"

# A trigger (what the CronJob runs) starts a second run, which ends Ready too.
kubectl -n "$NS" create job --from=cronjob/employes-sync-nightly manual-trigger
kubectl -n "$NS" wait job/manual-trigger --for=condition=Complete --timeout="$TIMEOUT"
for _ in $(seq 1 120); do
  run=$(kubectl -n "$NS" get esync demo -o jsonpath='{.status.lastRun.id}')
  [ "${run:-0}" -ge 2 ] && break
  sleep 5
done
kubectl -n "$NS" wait esync/demo --for=condition=Ready --timeout="$TIMEOUT"
kubectl -n "$NS" describe esync demo
echo "e2e: OK"
