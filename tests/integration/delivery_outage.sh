#!/usr/bin/env bash
# A provider outage must not dead-letter jobs. The mock is killed mid-run (kill -9, as a
# crash: connections reset, then refused) and started again on the same port OUTAGE_S
# seconds later. The settings are those under which probes used to count as tries and the
# same few jobs were chosen as probes again and again, so jobs reached max_attempts within a
# few cool-downs: max_attempts 4, backoff 200 ms to 2 s, a breaker of 5 failures with a 1 s
# cool-down. Now:
#   - nothing is lost and nothing is dead: every job delivered (spool and report);
#   - the releases do not spin: a job the breaker holds back is due no sooner than m after
#     (m = half the outage so far, at least half a cool-down; dispatch/outcome.h), so one job
#     is released at most R times in an outage of T seconds, where R counts the steps of
#     t -> t + max(C/2, t/2) from 0 within T (computed below), and the run's releases are at
#     most N x R; before the fix a job went back every tenth of a cool-down while the probe
#     was out;
#   - probes take turns: no job made more than 3 requests in all;
#   - the log (info) says once each, for the account: connections refused, breaker opened,
#     breaker half-open (the first probe), breaker closed; and TLS handshakes failing at most
#     once (a handshake the dying mock reset, before the refusals).
# usage: delivery_outage.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA [JOBS] [OUTAGE_S]
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 count=${5:-600} outage_s=${6:-12}
. "$(dirname "$0")/engine.sh"

# 10 requests at a time, 100 ms each: about 100 messages a second, so the outage comes with
# most of the jobs still to send.
export MAX_ATTEMPTS=4 BACKOFF_BASE=200ms BACKOFF_CAP=2s BREAKER_FAILURES=5 BREAKER_COOLDOWN=1s
export SMS_CONCURRENCY=10 LOG_LEVEL=info
cooldown_s=1
start_mock --latency twilio=100
write_config
export CARTEIRO_SPOOL=$T/spool.db
"$gen" --count "$count" --seed 61 --profile telco --channels sms --format jsonl --out "$T/jobs.jsonl"
"$ct" enqueue --quiet "$T/jobs.jsonl"

start_ct --drain --report
ok_at_least() { [ "$(mock_stat .endpoints.twilio_messages.outcomes.ok)" -ge "$1" ]; }
wait_until 60 ok_at_least $((count / 6)) || fail "the mock did not answer $((count / 6)) messages"
before=$(mock_stat .endpoints.twilio_messages.unique_keys)
port=$(cat "$T/port")
kill -KILL "$mock_pid"
wait "$mock_pid" 2>/dev/null || true
down_at=$(now_ms)
echo "outage: mock killed after $before messages; down for ${outage_s}s"
sleep "$outage_s"
expect_eq "carteiro waits through the outage" 0 "$(kill -0 "$ct_pid" 2>/dev/null; echo $?)"
expect_eq "nothing dead during the outage" 0 "$(spool_stat .dead)"
MOCK_PORT=$port start_mock --latency twilio=100
up_at=$(now_ms)
wait_ct 60
expect_eq "carteiro run --drain exit status" 0 "$ct_status"

expect_eq "report delivered" "$count" "$(jq -r .delivered "$T/run.out")"
expect_eq "report dead" 0 "$(jq -r .dead "$T/run.out")"
expect_eq "spool delivered" "$count" "$(spool_stat .delivered)"
expect_eq "spool dead" 0 "$(spool_stat .dead)"
expect_eq "spool dead by reason" "{}" "$(spool_stat '.dead_by_reason | tojson')"
expect_eq "spool ready" 0 "$(spool_stat .ready)"
# The second mock took the rest (those the first took after $before was read, up to the kill,
# are not in either count: the first mock's counters died with it).
after=$(mock_stat .endpoints.twilio_messages.unique_keys)
echo "outage: $after messages after the restart"
expect_eq "messages after the restart ($after) > 0" true \
  "$([ "$after" -gt 0 ] && echo true || echo false)"

# Probes take turns: the most requests any one job made (its history: the accepted one, and
# those that failed during the outage, recorded as skipped) stays small, where the same few
# jobs used to be the probe at every cool-down until max_attempts. With about 13 probes spread
# at random over 600 jobs, a job is the probe twice in about one run of eight and three times
# almost never: at most 3.
most=$(sqlite3 "$CARTEIRO_SPOOL" "select max(history) from job")
echo "outage: at most $most requests recorded for one job"
expect_eq "most requests of one job ($most) <= 3" true "$([ "$most" -le 3 ] && echo true || echo false)"

# The bound on releases, from the outage as it happened: T = the time the mock was down plus
# two cool-downs (the first probe after the restart, and the failures that opened the
# breaker) plus 2 s for a loaded machine.
t_ms=$((up_at - down_at + 2 * cooldown_s * 1000 + 2000))
per_job=$(awk -v T="$t_ms" -v C=$((cooldown_s * 1000)) 'BEGIN {
  n = 0; for (t = 0; t <= T; t += (t / 2 > C / 2 ? t / 2 : C / 2)) n++; print n }')
released=$(jq -r .released "$T/run.out")
echo "outage: $released releases for $count jobs (bound $per_job a job over $t_ms ms)"
expect_eq "releases ($released) <= $count x $per_job" true \
  "$([ "$released" -le $((count * per_job)) ] && echo true || echo false)"

# The log, once each.
log_count() { grep -F "\"msg\":\"$1\"" "$T/run.log" | grep -cF '"provider":"sms"' || true; }
expect_eq "log: connections refused" 1 "$(log_count "connections refused")"
# A handshake the dying mock reset may come first (seen under load); it is its own news, once,
# and does not hide the refusals that follow.
tls_logged=$(log_count "TLS handshakes failing")
expect_eq "log: TLS handshakes failing at most once ($tls_logged)" true \
  "$([ "$tls_logged" -le 1 ] && echo true || echo false)"
expect_eq "log: breaker opened" 1 "$(log_count "breaker opened")"
expect_eq "log: breaker half-open" 1 "$(log_count "breaker half-open")"
expect_eq "log: breaker closed" 1 "$(log_count "breaker closed")"
grep -E '"msg":"(breaker|connections)' "$T/run.log" >&2 || true

finish
