#!/usr/bin/env bash
# Start a real two-node Ray cluster on this machine, for the tests and for trying compute=ray. Needs
# root. The head runs on the ssh test hosts' bridge address (10.77.0.1, this machine; ssh_up.sh makes
# the bridge) and a second node inside the network namespace tkh1 (10.77.0.2), so ranks really talk
# across two addresses. 2 CPUs and a 300 MB object store each. Idempotent; `ray_up.sh down` stops it.
# Connect with compute.address=10.77.0.1:6379 (or RAY_ADDRESS=10.77.0.1:6379).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RAY=${RAY:-$ROOT/.venv/bin/ray}
HEAD=10.77.0.1:6379
OPTS=(--num-cpus=2 --object-store-memory=300000000 --disable-usage-stats)

nodes() { timeout 20 "$RAY" status --address "$HEAD" 2>/dev/null | grep -c "^ 1 node_" || true; }
if [ "${1:-}" = down ]; then timeout 60 "$RAY" stop --force >/dev/null 2>&1 || true; echo "ray: down"; exit 0; fi
[ -x "$RAY" ] || { echo "ray_up.sh: $RAY not found (pip install 'trainkit[ray]')" >&2; exit 1; }
bash "$ROOT/scripts/cluster/ssh_up.sh" >/dev/null
if [ "$(nodes)" != 2 ]; then
  timeout 60 "$RAY" stop --force >/dev/null 2>&1 || true
  timeout 120 "$RAY" start --head --node-ip-address=10.77.0.1 --port=6379 --include-dashboard=false "${OPTS[@]}" >/dev/null
  timeout 120 ip netns exec tkh1 "$RAY" start --address="$HEAD" --node-ip-address=10.77.0.2 "${OPTS[@]}" >/dev/null
  for _ in $(seq 60); do [ "$(nodes)" = 2 ] && break; sleep 1; done
fi
[ "$(nodes)" = 2 ] || { echo "ray_up.sh: expected 2 nodes at $HEAD, got $(nodes)" >&2; exit 1; }
echo "ray: 2 nodes at $HEAD (10.77.0.1, 10.77.0.2 in netns tkh1)"
