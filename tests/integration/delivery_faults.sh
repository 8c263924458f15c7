#!/usr/bin/env bash
# 10,000 invoice jobs against providers that fail 5 % of requests with 5xx, 2 % with 429 +
# Retry-After, and reset streams now and then: every job is delivered, none dead-lettered, the
# mock saw every message, and no message twice.
# usage: delivery_faults.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA [COUNT]
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 count=${5:-10000}
. "$(dirname "$0")/engine.sh"

faults=()
for p in whatsapp twilio sendgrid; do
  faults+=(--fault "$p.server_error=0.05" --fault "$p.server_error_status=503"
           --fault "$p.rate_limit=0.02" --fault "$p.retry_after=1" --fault "$p.reset=0.002")
done
start_mock "${faults[@]}"
write_config
export CARTEIRO_SPOOL=$T/spool.db
"$gen" --count "$count" --seed 11 --profile mixed --format jsonl --out "$T/jobs.jsonl"
"$ct" enqueue --quiet "$T/jobs.jsonl"
read -r want_wa want_sms want_email < <(messages_expected "$T/jobs.jsonl")

run_drain 600
expect_eq "delivered" "$count" "$(report .delivered)"
expect_eq "dead" 0 "$(report .dead)"
expect_eq "spool dead" 0 "$("$ct" spool stats --json | jq -r .dead)"
expect_eq "spool ready" 0 "$("$ct" spool stats --json | jq -r .ready)"
expect_eq "spool delivered" "$count" "$("$ct" spool stats --json | jq -r .delivered)"
expect_eq "whatsapp messages seen" "$want_wa" "$(mock_stat .endpoints.whatsapp_messages.unique_keys)"
expect_eq "sms messages seen" "$want_sms" "$(mock_stat .endpoints.twilio_messages.unique_keys)"
expect_eq "email messages seen" "$want_email" "$(mock_stat .endpoints.sendgrid_mail.unique_keys)"
expect_eq "duplicates at the mock" 0 "$(mock_stat .total.duplicates)"
# The faults really happened, and were retried.
expect_eq "5xx were injected" true "$(mock_stat '.endpoints.whatsapp_messages.outcomes.server_error > 0')"
expect_eq "429s were injected" true "$(mock_stat '.endpoints.twilio_messages.outcomes.rate_limited > 0')"
expect_eq "retries happened" true "$(report '.retried > 0')"

finish
