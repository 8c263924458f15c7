#!/usr/bin/env bash
# The JetStream spool next to the SQLite one, in the same run against the same mock: enqueue
# rate (publish acks from 3 replicas vs. SQLite group commit), then deliveries/s and CPU-µs per
# delivery (carteiro processes only, user + system) with 1, 2 and 3 carteiro nodes draining
# the spool. A fresh 3-node cluster (tools/nats-cluster, 127.0.0.1) per JetStream run.
#
# usage: bench/jetstream.sh [--build DIR] [--jobs N] [--latency MS] [--inflight N]
# Prints one JSON line per run. Not a test: it asserts nothing. On a shared 2-core machine the
# nats-servers, the mock and the nodes compete for the same cores: read ratios, not absolutes.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/dev jobs=10000 latency=0 inflight=500
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --latency) latency=$2; shift 2 ;;
    --inflight) inflight=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 64 ;;
  esac
done
command -v nats-server >/dev/null || { echo "nats-server is not installed" >&2; exit 1; }
bin=$build/bin
T=$(mktemp -d)
mock_pid=""
cluster=""
cleanup() {
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null || true
  [ -n "$cluster" ] && tools/nats-cluster stop "$cluster" || true
  rm -rf "$T"
}
trap cleanup EXIT

tools/gen-test-ca "$T/ca" >/dev/null
"$bin/mock-provider" --cert "$T/ca/server.crt" --key "$T/ca/server.key" --port 0 \
  --port-file "$T/port" --sendgrid-key SG.bench --twilio-account AC0123456789abcdef0123456789abcdef:tw --whatsapp-token wa \
  --latency "twilio=$latency" -q >/dev/null 2>&1 &
mock_pid=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
base=https://127.0.0.1:$(cat "$T/port")
printf 'tw\n' >"$T/tw.secret"
"$bin/gen-invoices" --count "$jobs" --seed 9 --profile bank --channels sms --format pbs \
  --out "$T/jobs.pbs"

config() { # SPOOL
  cat >"$T/carteiro.ini" <<INI
[carteiro]
spool = $1
workers = 1
max_inflight = $inflight
take_batch = 200
ca_file = $T/ca/ca.crt
log_level = warn
nats_replicas = 3

[provider.sms]
kind = sms
tenants = *
base_url = $base
account = AC0123456789abcdef0123456789abcdef
sender = +5511300000000
secret_file = $T/tw.secret
max_concurrency = 2000
INI
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# run SPOOL NODES: enqueue then drain with NODES nodes; one JSON line.
run() {
  local spool=$1 nodes=$2 t0 t1 t2 i cpu=0 pids=()
  config "${spool%%\?*}"
  t0=$(now_ms)
  CARTEIRO_SPOOL=$spool "$bin/carteiro" enqueue --quiet "$T/jobs.pbs" 2>/dev/null
  t1=$(now_ms)
  for ((i = 1; i <= nodes; i++)); do
    /usr/bin/time -f "%U %S" -o "$T/cpu-$i" "$bin/carteiro" run --config "$T/carteiro.ini" \
      --drain >/dev/null 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  t2=$(now_ms)
  for ((i = 1; i <= nodes; i++)); do
    cpu=$(awk -v c="$cpu" '{ printf "%.3f", c + $1 + $2 }' "$T/cpu-$i")
  done
  awk -v b="$3" -v n="$nodes" -v j="$jobs" -v e=$((t1 - t0)) -v d=$((t2 - t1)) -v c="$cpu" \
    'BEGIN { printf "{\"backend\":\"%s\",\"nodes\":%d,\"jobs\":%d,\"enqueue_per_s\":%.0f,\"deliveries_per_s\":%.0f,\"cpu_us_per_delivery\":%.0f}\n", b, n, j, j * 1000 / e, j * 1000 / d, c * 1e6 / j }'
}

run "$T/spool.db" 1 sqlite
for nodes in 1 2 3; do
  cluster=$T/nats-$nodes
  urls=$(tools/nats-cluster start "$cluster")
  run "$urls?replicas=3" "$nodes" jetstream
  tools/nats-cluster stop "$cluster"
  cluster=""
done
