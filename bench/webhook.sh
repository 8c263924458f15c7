#!/usr/bin/env bash
# Status events per second that `carteiro run` accepts durably on its webhook listener (TLS,
# HTTP/2), in WhatsApp notifications of K statuses each, signed as Meta signs them. The events
# in the spool afterwards must equal those sent, each answered 200 only after its commit.
# usage: bench/webhook.sh BUILD_DIR [REQUESTS] [STATUSES_PER_REQUEST] [CONCURRENCY]
#   e.g. bench/webhook.sh build/release 2000 10 64
set -euo pipefail
build=$1 n=${2:-2000} k=${3:-10} c=${4:-64}
root=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/webhook-bench.XXXXXX")
ct_pid=""
cleanup() {
  if [ -n "$ct_pid" ] && kill -0 "$ct_pid" 2>/dev/null; then kill -TERM "$ct_pid"; wait "$ct_pid" || true; fi
  rm -rf "$T"
}
trap cleanup EXIT

"$root/tools/gen-test-ca" "$T/ca" >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'app-secret-bench\n' >"$T/app"
printf 'token-bench\n' >"$T/wa"
cat >"$T/carteiro.ini" <<INI
[carteiro]
spool = $T/spool.db
workers = 1
log_level = warn
webhook_listen = 127.0.0.1:$port
webhook_tls_cert = $T/ca/server.crt
webhook_tls_key = $T/ca/server.key
webhook_public_url = https://127.0.0.1:$port

[provider.wa-bench]
kind = whatsapp
base_url = https://127.0.0.1:1/v24.0
account = 1234567890
secret_file = $T/wa
webhook_secret_file = $T/app
INI
"$build/bin/carteiro" run --config "$T/carteiro.ini" 2>"$T/run.log" &
ct_pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
"$build/bin/webhook_bench" --url "https://127.0.0.1:$port/webhooks/wa-bench" --ca "$T/ca/ca.crt" \
  --secret app-secret-bench -n "$n" -k "$k" -c "$c"
stored=$(sqlite3 "$T/spool.db" "SELECT count(*) FROM event")
echo "{\"stored\":$stored,\"expected\":$((n * k))}"
[ "$stored" = $((n * k)) ]
