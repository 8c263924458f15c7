#!/usr/bin/env bash
# The transport alone, both clients side by side, and h2load in the same run: transport_bench
# (one transport = one worker loop) against the mock's WhatsApp endpoint over TLS HTTP/2 on
# 127.0.0.1, first with the native client, then with libcurl, then h2load with the same
# request, connections and streams. CPU is the client process only.
#
# usage: bench/transport.sh [--build DIR] [-n N] [--latency MS] [-c IN_FLIGHT]
#                           [--connections K]
# Prints one JSON line per client and one for h2load. Not a test: it asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/release n=100000 latency=0 inflight=100 connections=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    -n) n=$2; shift 2 ;;
    --latency) latency=$2; shift 2 ;;
    -c) inflight=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "transport.sh: unknown option $1" >&2; exit 64 ;;
  esac
done
bin=$build/bin
for p in transport_bench mock-provider; do
  [ -x "$bin/$p" ] || { echo "transport.sh: $bin/$p missing; build first" >&2; exit 66; }
done

T=$(mktemp -d)
mock_pid=""
cleanup() {
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT
tools/gen-test-ca "$T/ca" >/dev/null
lat=()
[ "$latency" -gt 0 ] && lat=(--latency "whatsapp=$latency")
"$bin/mock-provider" --cert "$T/ca/server.crt" --key "$T/ca/server.key" --port 0 \
  --port-file "$T/port" --whatsapp-token wa --max-keys 16777216 "${lat[@]}" -q &
mock_pid=$!
for _ in $(seq 200); do [ -s "$T/port" ] && break; sleep 0.05; done
url=https://127.0.0.1:$(cat "$T/port")/v19.0/1234567890/messages
body='{"messaging_product":"whatsapp","to":"5511999990001","type":"text","text":{"body":"fatura {n}"}}'

for client in native curl; do
  /usr/bin/time -f '%M' -o "$T/rss" "$bin/transport_bench" --transport "$client" --ca "$T/ca/ca.crt" \
    -n "$n" -c "$inflight" --warmup "$inflight" --connections "$connections" --url "$url" \
    --header 'Authorization: Bearer wa' --header 'Content-Type: application/json' \
    --body "$body" >"$T/out" 2>&1 || true
  awk -v cl="$client" -v rss="$(tail -n 1 "$T/rss")" -v lat="$latency" -v inf="$inflight" -v cn="$connections" '
    /^rate/ { rate = $2 } /^cpu\/request/ { cpu = $2 } /^latency/ { p50 = $3; p99 = $6 }
    /^answers/ { ok = $3 + 0 }
    END { printf "{\"client\":\"%s\",\"latency_ms\":%d,\"in_flight\":%d,\"connections\":%d,\"req_per_s\":%d,\"cpu_us_per_request\":%s,\"p50_ms\":%d,\"p99_ms\":%d,\"answered_2xx\":%d,\"peak_rss_mib\":%.1f}\n", cl, lat, inf, cn, rate, cpu, p50, p99, ok, rss / 1024 }' "$T/out"
done

printf '%s' "${body//\{n\}/1}" >"$T/body"
streams=$(( (inflight + connections - 1) / connections ))
h2load -n "$n" -c "$connections" -m "$streams" -d "$T/body" -H 'content-type: application/json' \
  -H 'authorization: Bearer wa' "$url" >"$T/h2load.out" 2>&1 || true
awk -v lat="$latency" -v cn="$connections" -v st="$streams" '/^finished in/ { gsub(",", "", $4); r = $4 }
  END { printf "{\"client\":\"h2load\",\"latency_ms\":%d,\"connections\":%d,\"streams\":%d,\"req_per_s\":%d}\n", lat, cn, st, r }' \
  "$T/h2load.out"
