#!/usr/bin/env bash
# /metrics after a small load with deterministic faults: 5xx and 429 that are retried,
# recipients refused for good that fall back to SMS or end in the DLQ. The exposition must be
# lint-clean for promtool, carry every family the operators rely on (with HELP and TYPE), and
# agree exactly with the other side: the provider answers per account with what the mock
# answered, the spool gauges with `carteiro spool stats`, the ingest counters with what the API
# replied. The jemalloc gauges are there, non-zero and ordered (allocated <= active <=
# resident) when the binary links jemalloc, and absent when it does not (sanitizer builds).
# usage: metrics_check.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"

command -v promtool >/dev/null || { echo "FAIL: promtool not found (Debian: prometheus)" >&2; exit 1; }

telco=24 bank=8
"$gen" --count "$telco" --seed 41 --profile telco --format jsonl --out "$T/telco.jsonl"
"$gen" --count "$bank" --seed 42 --start-id 301 --profile bank --format jsonl --out "$T/bank.jsonl"
cat "$T/telco.jsonl" "$T/bank.jsonl" >"$T/jobs.jsonl"
jobs=$((telco + bank))
expect_eq "distinct phones" "$jobs" "$(jq -r .recipient.phone "$T/jobs.jsonl" | sort -u | wc -l)"

# Faults are a pure function of (seed, message, attempt), so every run sees the same ones.
# Only faults both sides count the same way: a 5xx or 429 is one answer at the mock and one
# at carteiro (a dropped connection can swallow answers the mock counted).
digits() { jq -r .recipient.phone "$1" | sed -n "$2p" | tr -d +; }
faults=(--fault whatsapp.server_error=0.15 --fault whatsapp.server_error_status=503
        --fault twilio.rate_limit=0.1 --fault twilio.retry_after=1
        --fault sendgrid.server_error=0.1)
for r in $(digits "$T/telco.jsonl" 1,5); do faults+=(--reject "whatsapp=exact:$r"); done # -> SMS
for r in $(digits "$T/telco.jsonl" 4,5); do faults+=(--reject "twilio=exact:$r"); done   # -> DLQ
faults+=(--reject "sendgrid=exact:$(jq -r .recipient.email "$T/bank.jsonl" | sed -n 1p)") # -> DLQ
start_mock "${faults[@]}"
printf 'metrics-token-synthetic\n' >"$T/http.token"
WA_RATE=500 WA_BURST=50 LOG_LEVEL=info write_config "http_listen = 127.0.0.1:0
http_token_file = $T/http.token
webhook_listen = 127.0.0.1:0
webhook_public_url = https://hooks.example.com/"
export CARTEIRO_SPOOL=$T/spool.db
start_ct
listening() { grep -q 'http: listening on 127.0.0.1:' "$T/run.log" && grep -q 'webhooks: listening on 127.0.0.1:' "$T/run.log"; }
wait_until 30 listening || { fail "no 'http: listening' line"; sed 's/^/  run: /' "$T/run.log" >&2; finish; exit 1; }
port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
api=http://127.0.0.1:$port
# One status callback with a forged signature: the webhook families then carry an account.
wport=$(grep -o 'webhooks: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
expect_eq "a forged Twilio callback is refused" 403 "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
  -H 'X-Twilio-Signature: Zm9yZ2Vk' --data 'MessageSid=SM0&MessageStatus=delivered' "http://127.0.0.1:$wport/webhooks/sms")"
auth=(-H "Authorization: Bearer metrics-token-synthetic")
post() {
  curl -s -o "$T/body" -w '%{http_code}' --max-time 10 -X POST "${auth[@]}" \
    -H 'content-type: application/json' --data-binary @"$1" "$api/v1/jobs"
}

# The whole load by the API with one bad record in it, then its first 5 jobs again.
bad_cpf='.recipient.cpf |= (.[0:10] + ((((.[10:11] | tonumber) + 1) % 10) | tostring))'
jq -s -c ". + [(.[0] | .id = \"bad-cpf-1\" | $bad_cpf)]" "$T/jobs.jsonl" >"$T/batch.json"
expect_eq "batch: 202" 202 "$(post "$T/batch.json")"
expect_eq "batch: accepted" "$jobs" "$(jq -r .accepted "$T/body")"
expect_eq "batch: rejected" 1 "$(jq -r .rejected "$T/body")"
jq -s -c '.[0:5]' "$T/jobs.jsonl" >"$T/again.json"
expect_eq "again: 202" 202 "$(post "$T/again.json")"
expect_eq "again: duplicates" 5 "$(jq -r .duplicates "$T/body")"

settled() { [ "$(spool_stat '.delivered + .dead')" = "$jobs" ] && [ "$(spool_stat .ready)" = 0 ]; }
wait_until 60 settled || fail "the jobs did not settle within 60 s: $("$ct" spool stats --json | jq -c .)"

# The spool gauges are a snapshot the spooler refreshes every two seconds: wait for one taken
# after the last job settled.
# scrape: GET /metrics into $T/metrics.txt, and its samples into M (name{labels} -> value; a
# series that came twice has both values, a line each): m reads them without a process, and
# this test reads some 80 of them (a process costs tens of milliseconds on a loaded machine).
# The status is left in $scrape_code.
declare -A M
scrape() {
  local k v _
  scrape_code=$(curl -s --max-time 10 -o "$T/metrics.txt" -w '%{http_code}' "$api/metrics") || true
  M=()
  while read -r k v _; do
    case "$k" in '#'* | '') continue ;; esac
    M[$k]=${M[$k]+${M[$k]}$'\n'}$v
  done <"$T/metrics.txt"
}
m() { [ -z "${M[$1]+set}" ] || printf '%s\n' "${M[$1]}"; }
spool_json=$("$ct" spool stats --json)
fresh() {
  scrape
  [ "$scrape_code" = 200 ] && [ "$(m 'carteiro_spool_jobs{state="ready"}')" = 0 ] &&
    [ "$(m 'carteiro_spool_jobs{state="delivered"}')" = "$(jq -r .delivered <<<"$spool_json")" ]
}
wait_until 30 fresh || fail "the spool gauges did not catch up within 30 s"
cp "$T/metrics.txt" "$T/metrics.keep"
# What the mock answered, once: every job has settled, so it does not change any more.
mock_get /stats >"$T/mock_stats.json"
mock_stat() { jq -r "$1" "$T/mock_stats.json"; }

# Lint: exit 0 and nothing said.
lint_rc=0
promtool check metrics <"$T/metrics.txt" >"$T/lint.out" 2>&1 || lint_rc=$?
expect_eq "promtool check metrics: exit status" 0 "$lint_rc"
expect_eq "promtool check metrics: output" "" "$(cat "$T/lint.out")"

# Every family, with its HELP and its TYPE.
families="carteiro_jobs_settled_total:counter carteiro_jobs_delivered_total:counter
carteiro_inflight_jobs:gauge carteiro_gap_waiting_jobs:gauge carteiro_ingest_jobs_total:counter
carteiro_provider_requests_total:counter carteiro_provider_responses_total:counter
carteiro_provider_retries_total:counter carteiro_provider_unanswered_requests_total:counter
carteiro_provider_request_duration_seconds:histogram carteiro_provider_inflight_requests:gauge
carteiro_provider_concurrency_limit:gauge carteiro_provider_rate_limit:gauge
carteiro_provider_rate_tokens:gauge carteiro_provider_rate_wait_seconds:gauge
carteiro_provider_breaker_state:gauge carteiro_provider_paused:gauge carteiro_spool_jobs:gauge
carteiro_spool_due_jobs:gauge carteiro_spool_oldest_due_age_seconds:gauge
carteiro_dead_letters:gauge carteiro_spool_file_bytes:gauge process_resident_memory_bytes:gauge
carteiro_spool_commit_failures_total:counter carteiro_spool_commits_failing:gauge
carteiro_spool_journal_outcomes:gauge carteiro_spool_journal_used_bytes:gauge
carteiro_spool_journal_capacity_bytes:gauge carteiro_webhook_requests_total:counter
carteiro_webhook_events_total:counter carteiro_webhook_refused_total:counter
carteiro_webhook_handshakes_total:counter carteiro_webhook_events:gauge
carteiro_inbound_messages:gauge carteiro_webhook_oldest_pending_age_seconds:gauge"
jemalloc_families="carteiro_jemalloc_allocated_bytes carteiro_jemalloc_active_bytes
carteiro_jemalloc_resident_bytes carteiro_jemalloc_mapped_bytes carteiro_jemalloc_retained_bytes"
with_jemalloc=false
case "$(ldd "$ct")" in *libjemalloc*) with_jemalloc=true ;; esac # no grep -q: under pipefail its early exit fails ldd
if $with_jemalloc; then
  for f in $jemalloc_families; do families="$families $f:gauge"; done
fi
# One pass over the exposition for every family: "FAMILY HELP_LINES SAMPLES TYPE_LINES...",
# the TYPE lines tab-separated (HELP: "# HELP f " and then text; a sample: f followed by "{",
# "_" or a space).
declare -A help_n samples type_lines
while IFS=$'\t' read -r f h smp types; do
  help_n[$f]=$h samples[$f]=$smp type_lines[$f]=${types//$'\t'/$'\n'}
done < <(awk -v fams="$(for ft in $families; do printf '%s ' "${ft%%:*}"; done)" '
  BEGIN { for (i = split(fams, all, " "); i > 0; i--) if (!(all[i] in dup)) { dup[all[i]]; fam[++n] = all[i] } }
  { for (i = 1; i <= n; i++) {
      f = fam[i]
      if (index($0, "# HELP " f " ") == 1 && substr($0, length(f) + 9, 1) ~ /[^ ]/) help[f]++
      if (index($0, "# TYPE " f " ") == 1) type[f] = type[f] "\t" $0
      if (index($0, f) == 1 && substr($0, length(f) + 1, 1) ~ /[{_ ]/) seen[f] = 1
    } }
  END { for (i = 1; i <= n; i++) { f = fam[i]
          printf "%s\t%d\t%s%s\n", f, help[f], seen[f] ? "true" : "false", type[f] } }' "$T/metrics.txt")
for ft in $families; do
  f=${ft%%:*} type=${ft#*:}
  expect_eq "$f: HELP" 1 "${help_n[$f]}"
  expect_eq "$f: TYPE" "# TYPE $f $type" "${type_lines[$f]}"
  expect_eq "$f: samples" true "${samples[$f]}"
done

# Deliveries by provider, channel and outcome: exactly what the mock answered.
check_account() { # ACCOUNT CHANNEL MOCK_ENDPOINT
  local a=$1 ch=$2 ep=$3 o i=1
  fields "$T/mock_stats.json" ".endpoints.$ep.requests" ".endpoints.$ep.outcomes.ok" \
    ".endpoints.$ep.outcomes.server_error" ".endpoints.$ep.outcomes.rate_limited" \
    ".endpoints.$ep.outcomes.rejected" ".endpoints.$ep.outcomes.auth" \
    ".endpoints.$ep.outcomes | .server_error + .rate_limited" "[.endpoints.$ep.outcomes[]] | add"
  expect_eq "$a requests" "${F[0]}" \
    "$(m "carteiro_provider_requests_total{provider=\"$a\",channel=\"$ch\"}")"
  for o in accepted:ok transient:server_error throttled:rate_limited permanent:rejected auth:auth; do
    expect_eq "$a ${o%%:*} = mock ${o#*:}" "${F[i]}" \
      "$(m "carteiro_provider_responses_total{provider=\"$a\",channel=\"$ch\",outcome=\"${o%%:*}\"}")"
    i=$((i + 1))
  done
  # Every 5xx and 429 was retried (max_attempts is far off, and no job has a deadline).
  expect_eq "$a retries = mock 5xx + 429" "${F[6]}" \
    "$(m "carteiro_provider_retries_total{provider=\"$a\",channel=\"$ch\"}")"
  expect_eq "$a latency observations = answers" "${F[7]}" \
    "$(m "carteiro_provider_request_duration_seconds_count{provider=\"$a\"}")"
  expect_eq "$a latency +Inf bucket = count" "$(m "carteiro_provider_request_duration_seconds_count{provider=\"$a\"}")" \
    "$(m "carteiro_provider_request_duration_seconds_bucket{provider=\"$a\",le=\"+Inf\"}")"
  # No transport fault was injected: every request had its answer.
  for o in timeout connection stream aborted; do
    expect_eq "$a unanswered ($o)" 0 \
      "$(m "carteiro_provider_unanswered_requests_total{provider=\"$a\",channel=\"$ch\",reason=\"$o\"}")"
  done
  expect_eq "$a in flight once drained" 0 "$(m "carteiro_provider_inflight_requests{provider=\"$a\"}")"
  expect_eq "$a breaker closed" 0 "$(m "carteiro_provider_breaker_state{provider=\"$a\"}")"
  expect_eq "$a not paused" 0 "$(m "carteiro_provider_paused{provider=\"$a\"}")"
}
check_account wa-tim whatsapp whatsapp_messages
check_account sms sms twilio_messages
check_account email email sendgrid_mail
fields "$T/mock_stats.json" .endpoints.whatsapp_media.requests \
  '.endpoints.whatsapp_messages.outcomes.server_error > 0' '.endpoints.sendgrid_mail.outcomes.server_error > 0' \
  '.endpoints.twilio_messages.outcomes.rate_limited > 0' .endpoints.whatsapp_messages.outcomes.rejected \
  .endpoints.twilio_messages.outcomes.rejected .endpoints.sendgrid_mail.outcomes.rejected
expect_eq "no media uploads" 0 "${F[0]}"
# The faults really happened, so the equalities above compared something.
expect_eq "5xx at whatsapp" true "${F[1]}"
expect_eq "5xx at sendgrid" true "${F[2]}"
expect_eq "429 at twilio" true "${F[3]}"
expect_eq "whatsapp refusals (5 recipients)" 5 "${F[4]}"
expect_eq "sms refusals (2 recipients)" 2 "${F[5]}"
expect_eq "email refusals (1 recipient)" 1 "${F[6]}"

# Leases that went back to the spool: every retry, and every fallback to a next channel
# (at least the 5 WhatsApp refusals; the others depend on the order of the parts).
expect_eq "settled retry >= retries + 5 fallbacks" true \
  "$([ "$(m 'carteiro_jobs_settled_total{outcome="retry"}')" -ge \
       $(( $(mock_stat '[.endpoints[].outcomes | .server_error + .rate_limited] | add') + 5 )) ] &&
     echo true || echo false)"
# Settled jobs and the spool, as `carteiro spool stats` counts them.
expect_eq "settled delivered" "$(jq -r .delivered <<<"$spool_json")" "$(m 'carteiro_jobs_settled_total{outcome="delivered"}')"
expect_eq "settled dead" "$(jq -r .dead <<<"$spool_json")" "$(m 'carteiro_jobs_settled_total{outcome="dead"}')"
expect_eq "dead: 2 telco (both channels refused) + 1 bank (e-mail refused)" 3 "$(jq -r .dead <<<"$spool_json")"
for s in ready delivered dead; do
  expect_eq "spool $s" "$(jq -r ".$s" <<<"$spool_json")" "$(m "carteiro_spool_jobs{state=\"$s\"}")"
done
expect_eq "spool due" "$(jq -r .due <<<"$spool_json")" "$(m carteiro_spool_due_jobs)"
expect_eq "oldest due age" 0.000 "$(m carteiro_spool_oldest_due_age_seconds)"
expect_eq "dead letters by reason" "$(jq -c .dead_by_reason <<<"$spool_json")" \
  "$(grep '^carteiro_dead_letters{' "$T/metrics.txt" |
     sed 's/^carteiro_dead_letters{reason="\([^"]*\)"} \(.*\)/{"\1":\2}/' | jq -s -c 'add // {}')"
expect_eq "spool file bytes > 0" true "$(awk '$1 == "carteiro_spool_file_bytes" { print ($2 > 0) ? "true" : "false" }' "$T/metrics.txt")"
expect_eq "jobs in flight" 0 "$(m carteiro_inflight_jobs)"
expect_eq "jobs waiting out a recipient gap" 0 "$(m carteiro_gap_waiting_jobs)"
# Ingest, as the API answered.
expect_eq "ingest accepted" "$jobs" "$(m 'carteiro_ingest_jobs_total{result="accepted"}')"
expect_eq "ingest duplicate" 5 "$(m 'carteiro_ingest_jobs_total{result="duplicate"}')"
expect_eq "ingest rejected" 1 "$(m 'carteiro_ingest_jobs_total{result="rejected"}')"
# The rate bucket of the one limited account, and the unlimited ones.
expect_eq "wa-tim rate" 500.000 "$(m 'carteiro_provider_rate_limit{provider="wa-tim"}')"
expect_eq "wa-tim bucket full again once idle" 50 "$(m 'carteiro_provider_rate_tokens{provider="wa-tim"}')"
expect_eq "wa-tim no wait once idle" 0.000000 "$(m 'carteiro_provider_rate_wait_seconds{provider="wa-tim"}')"
expect_eq "sms unlimited" 0.000 "$(m 'carteiro_provider_rate_limit{provider="sms"}')"
expect_eq "sms tokens unlimited" +Inf "$(m 'carteiro_provider_rate_tokens{provider="sms"}')"

expect_eq "process RSS > 1 MiB" true "$(awk '$1 == "process_resident_memory_bytes" { print ($2 > 1048576) ? "true" : "false" }' "$T/metrics.txt")"
if $with_jemalloc; then
  read -r alloc active resident mapped retained < <(
    for f in allocated active resident mapped retained; do m "carteiro_jemalloc_${f}_bytes"; done | xargs)
  echo "jemalloc: allocated=$alloc active=$active resident=$resident mapped=$mapped retained=$retained"
  expect_eq "jemalloc allocated > 0" true "$([ "${alloc:-0}" -gt 0 ] && echo true || echo false)"
  expect_eq "jemalloc mapped > 0" true "$([ "${mapped:-0}" -gt 0 ] && echo true || echo false)"
  expect_eq "jemalloc allocated <= active <= resident" true \
    "$([ "${alloc:-0}" -le "${active:-0}" ] && [ "${active:-0}" -le "${resident:-0}" ] && echo true || echo false)"
  expect_eq "jemalloc retained present" true "$([ -n "$retained" ] && echo true || echo false)"
else
  echo "carteiro does not link jemalloc (sanitizer build): its gauges must be absent"
  expect_eq "no jemalloc gauges without jemalloc" 0 "$(grep -c '^carteiro_jemalloc_' "$T/metrics.txt" || true)"
fi

# Personal data never reaches the metrics.
jq -r '.recipient.phone, .recipient.cpf, (.recipient.email // empty)' "$T/jobs.jsonl" | tr -d + \
  >"$T/personal.txt"
for p in $(grep -oF -f "$T/personal.txt" "$T/metrics.txt" | sort -u); do
  fail "personal data [$p] in /metrics"
done
checks=$((checks + 1))

stop_ct 20
expect_eq "exit status on SIGTERM" 0 "$ct_status"
# The on-call runbook names metrics in its alerts: each is a family this daemon exports.
runbook="$(dirname "$0")/../../deploy/RUNBOOK.md"
for f in $(grep -o 'carteiro_[a-z_]*[a-z]' "$runbook" | sort -u); do
  case "$f" in carteiro_provider) continue ;; esac # a grep prefix in a command line
  expect_eq "runbook metric $f is exported" 1 "$(grep -c "^# TYPE $f " "$T/metrics.txt")"
done
finish
