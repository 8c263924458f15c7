#!/usr/bin/env bash
# End-to-end delivery benchmark: jobs from the spool through `carteiro run` to the mock
# providers over TLS/HTTP2 on 127.0.0.1 and back to the spool, at a given mock latency; and,
# in the same run, h2load against the same mock endpoint with the same kind of request, so
# the result can be stated as a fraction of what this machine's HTTP/2 stack can do.
#
# usage: bench/e2e.sh [--build DIR] [--jobs N] [--latency MS] [--inflight N] [--workers N]
#                     [--connections N] [--streams N] [--channel sms|email|whatsapp] [--pdf]
#                     [--transport auto|curl] [--h2-connections N] [--rss-trace]
# --pdf gives every invoice a real PDF (25-45 kB), password-protected and attached (e-mail) or
# uploaded (WhatsApp) by carteiro; without it the invoices go out as texts only.
# --connections is libcurl's, per worker and host; the mock allows 100 streams per HTTP/2
# connection, so keeping 2,000 requests in flight takes 2,000 / 100 / workers connections per
# worker. --transport auto (the default) sends with the native HTTP/2 client, which opens
# connections as in-flight requests need them, up to --h2-connections per worker (256);
# --transport curl forces libcurl. --rss-trace samples carteiro's RSS every second and adds
# the samples (MiB) to the result.
# Prints one JSON line with every figure. Not a test: it asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/release jobs=50000 latency=0 inflight=2000 workers=2 channel=sms connections=2 streams=100
pdf=0 transport=auto h2conns=256 rss_trace=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --latency) latency=$2; shift 2 ;;
    --inflight) inflight=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --channel) channel=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --streams) streams=$2; shift 2 ;;
    --pdf) pdf=1; shift ;;
    --transport) transport=$2; shift 2 ;;
    --h2-connections) h2conns=$2; shift 2 ;;
    --rss-trace) rss_trace=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "e2e.sh: unknown option $1" >&2; exit 64 ;;
  esac
done
bin=$build/bin
for p in carteiro gen-invoices mock-provider; do
  [ -x "$bin/$p" ] || { echo "e2e.sh: $bin/$p missing; build first (tools/test --fast)" >&2; exit 66; }
done

T=$(mktemp -d)
mock_pid=""
cleanup() {
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  [ -n "${E2E_KEEP:-}" ] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT

SID=AC0123456789abcdef0123456789abcdef
tools/gen-test-ca "$T/ca" >/dev/null
lat=()
[ "$latency" -gt 0 ] && lat=(--latency "whatsapp=$latency" --latency "twilio=$latency" --latency "sendgrid=$latency")
"$bin/mock-provider" --cert "$T/ca/server.crt" --key "$T/ca/server.key" --port 0 \
  --port-file "$T/port" --whatsapp-token wa --twilio-account "$SID:tw" --sendgrid-key sg \
  --max-keys 16777216 --keep-files 16 "${lat[@]}" -q &
mock_pid=$!
for _ in $(seq 200); do [ -s "$T/port" ] && break; sleep 0.05; done
base=https://127.0.0.1:$(cat "$T/port")

printf 'wa\n' >"$T/wa"; printf 'tw\n' >"$T/tw"; printf 'sg\n' >"$T/sg"
cat >"$T/carteiro.ini" <<INI
[carteiro]
spool = $T/spool.db
workers = $workers
max_inflight = $inflight
take_batch = 1000
ca_file = $T/ca/ca.crt
document_root = $T/docs
log_level = warn
transport = $transport
h2_max_connections = $h2conns
[provider.wa]
kind = whatsapp
base_url = $base/v24.0
account = 1234567890
secret_file = $T/wa
max_concurrency = $inflight
max_connections = $connections
max_streams = $streams
recipient_gap = 0s
[provider.sms]
kind = sms
base_url = $base
account = $SID
sender = +5511300000000
secret_file = $T/tw
max_concurrency = $inflight
max_connections = $connections
max_streams = $streams
[provider.email]
kind = email
base_url = $base
sender = faturas@example.com
secret_file = $T/sg
max_concurrency = $inflight
max_connections = $connections
max_streams = $streams
INI

pdfopt=()
[ "$pdf" = 1 ] && pdfopt=(--pdf "dir=$T/docs")
"$bin/gen-invoices" --count "$jobs" --seed 5 --channels "$channel" "${pdfopt[@]}" --format pbs \
  --zstd --out "$T/jobs.pbs.zst"
"$bin/carteiro" enqueue --quiet --spool "$T/spool.db" "$T/jobs.pbs.zst"

/usr/bin/time -f '%U %S %M' -o "$T/time" ${E2E_WRAP:-} "$bin/carteiro" run --config "$T/carteiro.ini" \
  --drain --report >"$T/report.json" 2>"$T/run.log" &
run_pid=$!
: >"$T/rss"
if [ "$rss_trace" = 1 ]; then
  ct_pid=""
  while kill -0 "$run_pid" 2>/dev/null; do
    [ -n "$ct_pid" ] || ct_pid=$(pgrep -P "$run_pid" -x carteiro || true)
    [ -n "$ct_pid" ] && awk '/^VmRSS/ { printf "%.1f\n", $2 / 1024 }' "/proc/$ct_pid/status" >>"$T/rss" 2>/dev/null || true
    sleep 1
  done
fi
wait "$run_pid"
read -r user sys maxrss_kb <"$T/time"
rss_samples="[$(paste -sd, "$T/rss")]"
delivered=$(jq -r .delivered "$T/report.json")
seconds=$(jq -r .seconds "$T/report.json")
dups=$(curl -s --cacert "$T/ca/ca.crt" "$base/stats" | jq -r .total.duplicates)
unanswered=$(jq -c .unanswered "$T/report.json")
retried=$(jq -r .retried "$T/report.json")

# h2load: the same endpoint, the same kind of request, one connection, as many streams.
case "$channel" in
  sms)
    url=$base/2010-04-01/Accounts/$SID/Messages.json
    printf 'To=%%2B5511987654321&From=%%2B5511300000000&Body=Fatura+FAT-1+de+R%%24+123%%2C45+vence+em+10%%2F12%%2F2026' >"$T/body"
    hdr=(-H 'content-type: application/x-www-form-urlencoded' -H "authorization: Basic $(printf '%s:tw' "$SID" | base64 -w0)") ;;
  email)
    url=$base/v3/mail/send
    printf '{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"f@example.com"},"subject":"Fatura","content":[{"type":"text/plain","value":"Fatura"}]}' >"$T/body"
    hdr=(-H 'content-type: application/json' -H 'authorization: Bearer sg') ;;
  *)
    url=$base/v24.0/1234567890/messages
    printf '{"messaging_product":"whatsapp","to":"5511987654321","type":"template","template":{"name":"fatura","language":{"code":"pt_BR"}}}' >"$T/body"
    hdr=(-H 'content-type: application/json' -H 'authorization: Bearer wa') ;;
esac
h2n=$((jobs < 100000 ? 100000 : jobs))
h2load -n "$h2n" -c 1 -m "$((inflight < 1000 ? inflight : 1000))" -d "$T/body" "${hdr[@]}" \
  "$url" >"$T/h2load.out" 2>&1 || true
h2rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$T/h2load.out")

awk -v d="$delivered" -v s="$seconds" -v u="$user" -v y="$sys" -v r="$maxrss_kb" \
    -v h="${h2rps:-0}" -v l="$latency" -v i="$inflight" -v w="$workers" -v c="$channel" \
    -v n="$jobs" -v dup="$dups" -v cn="$connections" -v st="$streams" -v pdf="$pdf" \
    -v tr="$transport" -v un="$unanswered" -v rt="$retried" -v rs="$rss_samples" 'BEGIN {
  rate = s > 0 ? d / s : 0
  printf "{\"transport\":\"%s\",\"pdf\":%s,\"channel\":\"%s\",\"jobs\":%d,", tr, (pdf ? "true" : "false"), c, n
  printf "\"delivered\":%d,\"latency_ms\":%d,\"workers\":%d,", d, l, w
  printf "\"max_inflight\":%d,\"connections\":%d,\"streams\":%d,", i, cn, st
  printf "\"seconds\":%.3f,\"deliveries_per_s\":%.0f,", s, rate
  printf "\"cpu_us_per_delivery\":%.1f,\"peak_rss_mib\":%.1f,", (d > 0 ? (u + y) * 1e6 / d : 0), r / 1024
  printf "\"h2load_rps\":%.0f,\"fraction_of_h2load\":%.3f,\"duplicates\":%d,", h, (h > 0 ? rate / h : 0), dup
  printf "\"retried\":%d,\"unanswered\":%s", rt, un
  if (rs != "[]") printf ",\"rss_mib_each_s\":%s", rs
  printf "}\n"
}'
