#!/usr/bin/env bash
# SIGTERM with the stop path's cases in hand at once, made wide by a provider that answers
# after 2 s: SMS requests in flight (100, the account's concurrency), SMS jobs waiting for a
# concurrency slot, e-mail jobs parked for a rate token (2 a second), and WhatsApp invoices
# whose first message is in flight and whose second is still to send. The stop must cut no
# request: every request in flight at the signal is answered and recorded (a job whose last
# message is answered then is delivered, not put back), every waiting job goes back to the
# spool untouched, and the report, the spool and the provider agree on every count.
# usage: delivery_stop.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"

sms=300 mail=20 wa=20
export SMS_CONCURRENCY=100 EMAIL_RATE=2 SHUTDOWN_GRACE=30s LOG_LEVEL=info
start_mock --latency twilio=2000 --latency sendgrid=2000 --latency whatsapp=2000
write_config
export CARTEIRO_SPOOL=$T/spool.db
"$gen" --count "$sms" --seed 81 --profile telco --channels sms --format jsonl --out "$T/sms.jsonl"
"$gen" --count "$mail" --seed 82 --start-id 1001 --profile bank --channels email --format jsonl \
  --out "$T/mail.jsonl"
"$gen" --count "$wa" --seed 83 --start-id 2001 --profile telco --channels whatsapp --format jsonl \
  --out "$T/wa.jsonl"
cat "$T/sms.jsonl" "$T/mail.jsonl" "$T/wa.jsonl" >"$T/jobs.jsonl"
count=$((sms + mail + wa))
"$ct" enqueue --quiet "$T/jobs.jsonl"

start_ct --report
# The signal comes once the SMS account's 100 slots are taken by requests the provider holds.
sms_held() { [ "$(mock_stat '.endpoints.twilio_messages.requests')" -ge "$SMS_CONCURRENCY" ]; }
wait_until 60 sms_held || fail "the provider did not receive $SMS_CONCURRENCY SMS within 60 s"
held=$(mock_stat .pending_replies)
answered_before=$(mock_stat .total.ok)
echo "stop: signal with $held replies pending at the provider, $answered_before answered"
expect_eq "requests in flight at the signal (>= $SMS_CONCURRENCY)" true \
  "$([ "$held" -ge "$SMS_CONCURRENCY" ] && echo true || echo false)"
stop_ct 60
expect_eq "exit status" 0 "$ct_status"

# Nothing cut: the provider answered every request it held, and the daemon saw every answer.
expect_eq "requests cancelled at the provider" 0 "$(mock_stat '[.endpoints[].outcomes.cancelled] | add')"
expect_eq "replies pending at the provider" 0 "$(mock_stat .pending_replies)"
expect_eq "requests the daemon cut (report)" 0 "$(jq -r .unanswered.aborted "$T/run.out")"
expect_eq "requests left unanswered (report)" \
  '{"timeout":0,"connection":0,"stream":0,"aborted":0}' "$(jq -c .unanswered "$T/run.out")"
grep -h 'grace period over' "$T/run.log" >&2 && fail "the grace period was reached"

# The counts agree: jobs complete at the provider = delivered in the report = in the spool;
# the rest waits, READY, and nothing is dead or left in flight.
mock_received 0 >"$T/received.json"
complete=$(jobs_complete "$T/jobs.jsonl" "$T/received.json")
delivered=$(jq -r .delivered "$T/run.out")
echo "stop: $complete jobs complete at the provider, $delivered reported delivered"
expect_eq "jobs complete at the provider > 0" true "$([ "$complete" -gt 0 ] && echo true || echo false)"
expect_eq "reported delivered = complete at the provider" "$complete" "$delivered"
expect_eq "spool delivered = reported" "$delivered" "$(spool_stat .delivered)"
expect_eq "spool ready = the rest" "$((count - delivered))" "$(spool_stat .ready)"
expect_eq "spool in flight" 0 "$(spool_stat .inflight)"
expect_eq "spool dead" 0 "$(spool_stat .dead)"
expect_eq "report dead" 0 "$(jq -r .dead "$T/run.out")"
# Released = leased jobs that went back without a try: everything in hand but not delivered
# (no retry happened: the provider answered every request 2xx).
expect_eq "report retried" 0 "$(jq -r .retried "$T/run.out")"

# The restart sends the rest, and nothing twice.
run_drain 120
expect_eq "restart: delivered the rest" "$((count - delivered))" "$(report .delivered)"
expect_eq "restart: spool delivered" "$count" "$(spool_stat .delivered)"
expect_eq "restart: messages sent twice" 0 "$(mock_stat .total.duplicates)"

finish
