#!/usr/bin/env bash
# Our own credentials refused (401): the WhatsApp account pauses and says so once in the log;
# its jobs wait in the spool, none is dead-lettered or moved to SMS, and the provider is not
# hammered. SMS and e-mail jobs keep flowing meanwhile. After the secret file is fixed and
# carteiro gets SIGHUP, the waiting jobs are delivered; SIGTERM then stops it with status 0.
# usage: delivery_auth.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"

telco=30 bank=5 concurrency=4
"$gen" --count "$telco" --seed 41 --profile telco --format jsonl --out "$T/telco.jsonl"
"$gen" --count "$bank" --seed 42 --start-id 101 --profile bank --format jsonl --out "$T/bank.jsonl"
start_mock
WA_CONCURRENCY=$concurrency LOG_LEVEL=info write_config
wrong=wa-revoked-token-$RANDOM
printf '%s\n' "$wrong" >"$T/wa.secret"
export CARTEIRO_SPOOL=$T/spool.db
"$ct" enqueue --quiet "$T/telco.jsonl"

start_ct
logged() { grep -q "provider wa-tim refused our credentials (HTTP 401, code 190): account paused" "$T/run.log"; }
if ! wait_until 15 logged; then
  fail "no 'refused our credentials' line within 15 s"
  sed 's/^/  run: /' "$T/run.log" >&2
fi
# While WhatsApp is paused, bank jobs (e-mail and SMS) are enqueued and delivered.
"$ct" enqueue --quiet "$T/bank.jsonl"
bank_done() { [ "$(spool_stat .delivered)" = "$bank" ]; }
wait_until 15 bank_done || fail "bank jobs not delivered during the pause within 15 s"
# Two more pause re-checks (2 s each) go by: the jobs must still wait, quietly.
sleep 4.5
expect_eq "carteiro still running" 0 "$(kill -0 "$ct_pid" 2>/dev/null; echo $?)"
expect_eq "spool dead during pause" 0 "$(spool_stat .dead)"
expect_eq "spool ready during pause" "$telco" "$(spool_stat .ready)"
expect_eq "spool delivered during pause" "$bank" "$(spool_stat .delivered)"
wa_requests=$(mock_stat .endpoints.whatsapp_messages.requests)
expect_eq "whatsapp requests while paused: 1..$concurrency (got $wa_requests)" true \
  "$([ "$wa_requests" -ge 1 ] && [ "$wa_requests" -le "$concurrency" ] && echo true || echo false)"
expect_eq "whatsapp refusals" "$wa_requests" "$(mock_stat .endpoints.whatsapp_messages.outcomes.auth)"
expect_eq "whatsapp accepted while paused" 0 "$(mock_stat .endpoints.whatsapp_messages.outcomes.ok)"
# A paused account is not a failed channel: no telco job went to SMS.
expect_eq "sms during pause (bank only)" "$bank" "$(mock_stat .endpoints.twilio_messages.requests)"
expect_eq "email during pause" "$bank" "$(mock_stat .endpoints.sendgrid_mail.outcomes.ok)"
expect_eq "pause logged once" 1 "$(grep -c "refused our credentials" "$T/run.log")"
expect_no_match "secret not logged" "$T/run.log" "$wrong"
id=$(jq -r .id "$T/telco.jsonl" | head -1)
expect_eq "waiting job state" ready "$(job_field "$id" .state)"
expect_eq "waiting job has no failed attempt" 0 "$(job_field "$id" '[.attempts[] | select(.outcome == "permanent")] | length')"

# The operator fixes the secret and reloads.
printf '%s\n' "$WA_TOKEN" >"$T/wa.secret"
kill -HUP "$ct_pid"
all_done() { [ "$(spool_stat .delivered)" = "$((telco + bank))" ]; }
if ! wait_until 20 all_done; then
  fail "after SIGHUP: delivered $(spool_stat .delivered) of $((telco + bank)) within 20 s"
  tail -n 20 "$T/run.log" | sed 's/^/  run: /' >&2
fi
stop_ct 20
expect_eq "exit status on SIGTERM" 0 "$ct_status"
expect_eq "spool delivered" "$((telco + bank))" "$(spool_stat .delivered)"
expect_eq "spool dead" 0 "$(spool_stat .dead)"
expect_eq "spool ready" 0 "$(spool_stat .ready)"
expect_eq "whatsapp accepted" $((2 * telco)) "$(mock_stat .endpoints.whatsapp_messages.outcomes.ok)"
expect_eq "whatsapp refusals after reload" "$wa_requests" "$(mock_stat .endpoints.whatsapp_messages.outcomes.auth)"
expect_eq "sms (bank only)" "$bank" "$(mock_stat .endpoints.twilio_messages.requests)"
expect_eq "duplicates at the mock" 0 "$(mock_stat .total.duplicates)"
expect_eq "reload logged" 1 "$(grep -c "reload: configuration applied" "$T/run.log")"
expect_eq "pause logged once in all" 1 "$(grep -c "refused our credentials" "$T/run.log")"
expect_eq "$id receipt" "whatsapp/wa-tim,whatsapp/wa-tim" "$(receipt_parts "$id")"

finish
