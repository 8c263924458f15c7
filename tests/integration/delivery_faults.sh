#!/usr/bin/env bash
# 10,000 invoice jobs against providers that fail 5 % of requests with 5xx, 2 % with 429 +
# Retry-After, and reset streams now and then: every job is delivered, none dead-lettered, and
# the mock saw every message.
#
# Then the same with connections dropped now and then. A dropped connection can take with it
# replies the provider already sent: the client never sees them and must send again (the
# providers offer no idempotency key).
#
# Duplicates. A message can reach the mock twice only when its first answer never reached
# carteiro: the daemon counts those requests by what ended them (report: "unanswered"), and
# the mock's duplicates must stay within the ones that could have been taken: timeouts and
# connections lost (the mock never takes a message whose stream it resets). Phase 1 injects no
# drops, yet the mock's HTTP/2 server ends a connection now and then around a stream reset
# (about once in 2,000 resets here; libcurl then reports "not closed cleanly before end of the
# underlying stream" for every stream on it), so the bound holds there too rather than zero.
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
# dups_within WHAT: the mock's duplicates are within the answers the daemon never saw.
dups_within() {
  local dups lost
  dups=$(mock_stat .total.duplicates)
  lost=$(report '.unanswered.timeout + .unanswered.connection')
  echo "$1: $dups messages sent twice, $lost requests unanswered (timeout or connection lost)"
  expect_eq "$1: duplicates ($dups) <= unanswered ($lost)" true \
    "$([ "$dups" -le "$lost" ] && echo true || echo false)"
}
dups_within "phase 1"
# Each stream the mock reset reached carteiro as a stream reset, unless its connection ended
# first.
resets=$(mock_stat '[.endpoints[].outcomes.reset] | add')
expect_eq "stream resets ($(report .unanswered.stream)) <= the mock's ($resets)" true \
  "$(report ".unanswered.stream <= $resets")"
expect_eq "the mock's stream resets ($resets) <= stream resets + connections lost" true \
  "$(report ".unanswered.stream + .unanswered.connection >= $resets")"
# The faults really happened, and were retried.
expect_eq "5xx were injected" true "$(mock_stat '.endpoints.whatsapp_messages.outcomes.server_error > 0')"
expect_eq "429s were injected" true "$(mock_stat '.endpoints.twilio_messages.outcomes.rate_limited > 0')"
expect_eq "retries happened" true "$(report '.retried > 0')"

# Phase 2: connection drops.
stop_mock
rm -f "$T"/spool.db*
drops=()
for p in whatsapp twilio sendgrid; do
  drops+=(--fault "$p.server_error=0.02" --fault "$p.drop=0.001")
done
start_mock "${drops[@]}"
write_config
count2=$((count / 2))
"$gen" --count "$count2" --seed 12 --profile mixed --start-id 500000 --format jsonl --out "$T/jobs2.jsonl"
"$ct" enqueue --quiet "$T/jobs2.jsonl"
read -r want_wa want_sms want_email < <(messages_expected "$T/jobs2.jsonl")
run_drain 600
expect_eq "delivered despite drops" "$count2" "$(report .delivered)"
expect_eq "none dead despite drops" 0 "$(report .dead)"
expect_eq "whatsapp messages seen (drops)" "$want_wa" "$(mock_stat .endpoints.whatsapp_messages.unique_keys)"
expect_eq "sms messages seen (drops)" "$want_sms" "$(mock_stat .endpoints.twilio_messages.unique_keys)"
expect_eq "email messages seen (drops)" "$want_email" "$(mock_stat .endpoints.sendgrid_mail.unique_keys)"
dropped=$(mock_stat '[.endpoints[].outcomes.dropped] | add')
echo "phase 2: $dropped connections dropped"
expect_eq "connections were dropped" true "$([ "$dropped" -gt 0 ] && echo true || echo false)"
expect_eq "connections lost were seen" true "$(report '.unanswered.connection > 0')"
dups_within "phase 2"

finish
