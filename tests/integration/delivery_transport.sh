#!/usr/bin/env bash
# Which HTTP client carries which provider. Two mocks: one that speaks HTTP/2 (WhatsApp and
# e-mail point at it) and one whose TLS offers only HTTP/1.1 (SMS points at it).
#
# transport = auto (the default): the h2 origin goes to the native client (nghttp2), the
# HTTP/1.1 one falls back to libcurl by itself; every job is delivered; /metrics and
# `carteiro status` say which client took each origin and why, and the requests each client
# sent equal what each mock received (HTTP/2 at one, HTTP/1.1 at the other).
# Then CARTEIRO_CARTEIRO_TRANSPORT=curl forces libcurl for both: the native client sends
# nothing, both origins are reported "forced".
# usage: delivery_transport.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"
command -v promtool >/dev/null || { echo "FAIL: promtool not found (Debian: prometheus)" >&2; exit 1; }
unset CARTEIRO_CARTEIRO_TRANSPORT # the suite may run with it set; each phase says its own

h1_pid=""
trap 'kill -KILL $h1_pid 2>/dev/null || true; stop_all' EXIT

start_mock
h2base=$base
"$mock" --cert "$T/ca/server.crt" --key "$T/ca/server.key" --port 0 --port-file "$T/port1" \
  --seed 7 --twilio-account "$TW_SID:$TW_TOKEN" --http1-only -q >"$T/mock1.out" 2>"$T/mock1.err" &
h1_pid=$!
for _ in $(seq 200); do [ -s "$T/port1" ] && break; sleep 0.05; done
[ -s "$T/port1" ] || { echo "FAIL: the HTTP/1.1 mock did not start" >&2; exit 1; }
h1base=https://127.0.0.1:$(cat "$T/port1")
expect_eq "the second mock speaks HTTP/1.1 even to a client offering h2" 1.1 \
  "$(curl -s --http2 --cacert "$T/ca/ca.crt" -o /dev/null -w '%{http_version}' "$h1base/health")"
h1stat() { curl -sS --max-time 10 --cacert "$T/ca/ca.crt" "$h1base/stats" | jq -r "$1"; }

printf 'transport-token-synthetic\n' >"$T/http.token"
export CARTEIRO_SPOOL=$T/spool.db
telco=30 bank=20 jobs=50

# phase PHASE: a fresh spool and mock counters, the jobs, the daemon until they settle, then
# /metrics and `carteiro status` into $T/metrics.txt and $T/screen.
phase() {
  rm -f "$T"/spool.db*
  curl -sS --cacert "$T/ca/ca.crt" -X POST "$h2base/stats/reset" >/dev/null
  curl -sS --cacert "$T/ca/ca.crt" -X POST "$h1base/stats/reset" >/dev/null
  LOG_LEVEL=info write_config "http_listen = 127.0.0.1:0
http_token_file = $T/http.token"
  # SMS goes to the HTTP/1.1 mock.
  awk -v h1="$h1base" '/^\[provider\./ { sect = $0 } sect == "[provider.sms]" && /^base_url = / { $0 = "base_url = " h1 } { print }' \
    "$T/carteiro.ini" >"$T/carteiro.ini.new" && mv "$T/carteiro.ini.new" "$T/carteiro.ini"
  "$gen" --count "$telco" --seed 61 --profile telco --format jsonl --out "$T/telco.jsonl"
  "$gen" --count "$bank" --seed 62 --start-id 401 --profile bank --format jsonl --out "$T/bank.jsonl"
  cat "$T/telco.jsonl" "$T/bank.jsonl" >"$T/jobs.jsonl"
  "$ct" enqueue --quiet "$T/jobs.jsonl"
  start_ct
  listening() { grep -q 'http: listening on 127.0.0.1:' "$T/run.log"; }
  wait_until 10 listening || { fail "$1: no 'http: listening' line"; return; }
  port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
  api=http://127.0.0.1:$port
  settled() { [ "$(spool_stat '.delivered + .dead')" = "$jobs" ]; }
  wait_until 60 settled || fail "$1: the jobs did not settle within 60 s: $("$ct" spool stats --json | jq -c .)"
  expect_eq "$1: delivered" "$jobs" "$(spool_stat .delivered)"
  curl -s --max-time 10 -o "$T/metrics.txt" "$api/metrics"
  CARTEIRO_HTTP_TOKEN=transport-token-synthetic "$ct" status --url "$api" >"$T/screen"
  CARTEIRO_HTTP_TOKEN=transport-token-synthetic "$ct" status --url "$api" --json >"$T/status.json"
  stop_ct
  expect_eq "$1: exit status" 0 "$ct_status"
  lint_rc=0
  promtool check metrics <"$T/metrics.txt" >"$T/lint.out" 2>&1 || lint_rc=$?
  expect_eq "$1: promtool check metrics" "0 " "$lint_rc $(cat "$T/lint.out")"
}
m() { awk -v k="$1" '$1 == k { print $2 }' "$T/metrics.txt"; }
origin_line() { # ORIGIN CLIENT REASON
  printf 'carteiro_transport_origin_info{origin="%s",client="%s",reason="%s"}' "$1" "$2" "$3"
}

# ---- transport = auto --------------------------------------------------------------------
phase auto
h2_requests=$(mock_stat .total.requests)
h1_requests=$(h1stat .total.requests)
expect_eq "auto: SMS only at the HTTP/1.1 mock" "$h1_requests" "$(h1stat .endpoints.twilio_messages.requests)"
expect_eq "auto: the HTTP/2 mock was asked" true "$([ "$h2_requests" -gt 0 ] && echo true || echo false)"
expect_eq "auto: the HTTP/1.1 mock was asked" true "$([ "$h1_requests" -gt 0 ] && echo true || echo false)"
expect_eq "auto: every request at the h2 mock came over HTTP/2" "[\"2\"]" \
  "$(mock_get "/received?limit=4096" | jq -c '[.records[].http_version] | unique')"
expect_eq "auto: every request at the other came over HTTP/1.1" "[\"1.1\"]" \
  "$(curl -sS --cacert "$T/ca/ca.crt" "$h1base/received?limit=4096" | jq -c '[.records[].http_version] | unique')"
expect_eq "auto: nghttp2 requests = the h2 mock's" "$h2_requests" \
  "$(m 'carteiro_transport_requests_total{client="nghttp2"}')"
expect_eq "auto: libcurl requests = the HTTP/1.1 mock's" "$h1_requests" \
  "$(m 'carteiro_transport_requests_total{client="libcurl"}')"
expect_eq "auto: the h2 origin" 1 "$(m "$(origin_line "$h2base" nghttp2 alpn_h2)")"
expect_eq "auto: the HTTP/1.1 origin" 1 "$(m "$(origin_line "$h1base" libcurl alpn_http1)")"
expect_eq "auto: h2 connections opened" true "$(awk '$1 == "carteiro_transport_native_connections_total" { print ($2 > 0) ? "true" : "false" }' "$T/metrics.txt")"
for f in carteiro_transport_requests_total:counter carteiro_transport_origin_info:gauge \
         carteiro_transport_native_connections_total:counter carteiro_transport_native_goaway_total:counter \
         carteiro_transport_native_refused_streams_total:counter carteiro_transport_native_ping_timeouts_total:counter; do
  expect_eq "${f%%:*}: HELP and TYPE" "1 1" \
    "$(grep -c "^# HELP ${f%%:*} [^ ]" "$T/metrics.txt") $(grep -cx "# TYPE ${f%%:*} ${f#*:}" "$T/metrics.txt")"
done
expect_line "auto: status screen" "$T/screen" \
  "$(printf 'transport  nghttp2 %s requests, libcurl %s  (h2: %s connections, 0 GOAWAY, 0 refused streams sent again, 0 PING timeouts)' \
     "$h2_requests" "$h1_requests" "$(jq -r .transport.h2.connections "$T/status.json")")"
expect_line "auto: status screen, h2 origin" "$T/screen" "           $h2base  nghttp2 (alpn_h2)"
expect_line "auto: status screen, HTTP/1.1 origin" "$T/screen" "           $h1base  libcurl (alpn_http1)"
expect_eq "auto: status document" "{\"nghttp2\":$h2_requests,\"libcurl\":$h1_requests}" \
  "$(jq -c .transport.requests "$T/status.json")"

# ---- transport = curl (by the environment) -----------------------------------------------
export CARTEIRO_CARTEIRO_TRANSPORT=curl
phase curl
unset CARTEIRO_CARTEIRO_TRANSPORT
expect_eq "curl: nghttp2 requests" 0 "$(m 'carteiro_transport_requests_total{client="nghttp2"}')"
expect_eq "curl: libcurl requests = both mocks'" "$(( $(mock_stat .total.requests) + $(h1stat .total.requests) ))" \
  "$(m 'carteiro_transport_requests_total{client="libcurl"}')"
expect_eq "curl: the h2 origin, forced" 1 "$(m "$(origin_line "$h2base" libcurl forced)")"
expect_eq "curl: the HTTP/1.1 origin, forced" 1 "$(m "$(origin_line "$h1base" libcurl forced)")"
expect_eq "curl: no h2 connections" 0 "$(m carteiro_transport_native_connections_total)"

kill -TERM "$h1_pid" 2>/dev/null || true
wait "$h1_pid" 2>/dev/null || true
h1_pid=""
finish
