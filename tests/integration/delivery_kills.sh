#!/usr/bin/env bash
# kill -9 of carteiro at several random moments of one run, under SMS with faults (5xx, 429
# with Retry-After, stream resets), each time started again on the same spool; then a drain:
#   - nothing is lost: every job delivered, none dead, none left, every message at the
#     provider;
#   - duplicates stay within their bound. A kill may re-send what was in flight (at most
#     max_inflight jobs, one message each here); within the last run, a request left
#     unanswered (timeout, connection lost) may be re-sent too, and the report counts those.
#     The mock never takes a message whose stream it resets, nor one it answers 5xx or 429.
# The moments come from SEED (printed, so a failure can be replayed with SEED=...).
# usage: delivery_kills.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA [JOBS] [KILLS]
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 count=${5:-5000} kills=${6:-5}
. "$(dirname "$0")/engine.sh"

seed=${SEED:-$RANDOM}
RANDOM=$seed
echo "kills: $kills at moments drawn from seed $seed"
export MAX_INFLIGHT=200
faults=(--fault twilio.server_error=0.05 --fault twilio.server_error_status=503
        --fault twilio.rate_limit=0.02 --fault twilio.retry_after=1 --fault twilio.reset=0.002)
start_mock --latency twilio=40 "${faults[@]}"
write_config
export CARTEIRO_SPOOL=$T/spool.db
"$gen" --count "$count" --seed 71 --profile telco --channels sms --format jsonl --out "$T/jobs.jsonl"
"$ct" enqueue --quiet "$T/jobs.jsonl"
expect_eq "phones are unique in the data set" "$count" \
  "$(jq -r .recipient.phone "$T/jobs.jsonl" | sort -u | wc -l)"

# The moments: numbers of messages taken by the provider, increasing, spread over 5 %..90 %.
moments=$(for _ in $(seq "$kills"); do echo $((count * 5 / 100 + RANDOM % (count * 85 / 100))); done |
  sort -n | xargs)
taken() { mock_stat .endpoints.twilio_messages.unique_keys; }
for at in $moments; do
  start_ct
  reached() { [ "$(taken)" -ge "$at" ] || ! kill -0 "$ct_pid" 2>/dev/null; }
  wait_until 60 reached || fail "the provider did not take $at messages within 60 s"
  kill -KILL "$ct_pid" 2>/dev/null || true
  stop_ct 10
  expect_eq "kill -9 at $at messages: exit status" 137 "$ct_status"
  expect_eq "kill -9 at $at messages: nothing dead" 0 "$(spool_stat .dead)"
  echo "kill -9 after $(taken) messages taken; $(spool_stat .delivered) jobs recorded delivered"
done

run_drain 120
expect_eq "spool delivered" "$count" "$(spool_stat .delivered)"
expect_eq "spool dead" 0 "$(spool_stat .dead)"
expect_eq "spool ready" 0 "$(spool_stat .ready)"
expect_eq "spool in flight" 0 "$(spool_stat .inflight)"
expect_eq "report dead" 0 "$(report .dead)"
expect_eq "sms messages taken by the provider" "$count" "$(taken)"
expect_eq "keys past the mock's table" 0 "$(mock_stat .keys.untracked)"
expect_eq "5xx were injected" true "$(mock_stat '.endpoints.twilio_messages.outcomes.server_error > 0')"

dups=$(mock_stat .endpoints.twilio_messages.duplicates_accepted)
lost=$(report '.unanswered.timeout + .unanswered.connection')
bound=$((kills * MAX_INFLIGHT + lost))
echo "kills: $dups messages taken twice; bound $kills x $MAX_INFLIGHT + $lost unanswered"
expect_eq "messages taken twice ($dups) <= $bound" true \
  "$([ "$dups" -le "$bound" ] && echo true || echo false)"

finish
