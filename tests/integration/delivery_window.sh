#!/usr/bin/env bash
# Delivery windows. Jobs with not_before ahead reach no provider before then, and are delivered
# soon after. Jobs with a not_after they cannot make end in the DLQ as deadline_exceeded: SMS
# jobs whose provider answers 429 with a Retry-After longer than the time left (no retry past
# the deadline), and WhatsApp jobs whose provider takes longer to accept the first message than
# the deadline leaves (the second is not sent after the deadline, and the dead letter shows the
# message that did reach the customer).
#
# Nothing here depends on how fast a loaded machine runs the set-up: the deadline is
# DEADLINE_S after a time taken before the enqueue and the daemon's start, and the WhatsApp
# latency and the Retry-After are at least that long, so whenever the first attempts are made
# (they must be before the deadline: DEADLINE_S is room for a slow start), the answer comes
# after the deadline and the Retry-After reaches past it. The window opens after the deadline;
# "soon after" it is measured from when the test has seen the daemon at work (its first
# attempts at the mock), so a slow start does not count against it.
# usage: delivery_window.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"

early=10 sms_late=5 wa_late=4
DEADLINE_S=8 WINDOW_S=10
"$gen" --count "$early" --seed 51 --profile bank --channels email --format jsonl --out "$T/early.raw"
"$gen" --count "$sms_late" --seed 52 --start-id 101 --profile telco --channels sms --format jsonl \
  --out "$T/sms_late.raw"
"$gen" --count "$wa_late" --seed 53 --start-id 201 --profile telco --channels whatsapp --format jsonl \
  --out "$T/wa_late.raw"
start_mock --fault twilio.rate_limit=1 --fault twilio.retry_after=$((DEADLINE_S * 4)) \
  --latency whatsapp=$((DEADLINE_S * 1000))
write_config
export CARTEIRO_SPOOL=$T/spool.db

t0=$(now_ms)
not_before=$((t0 + WINDOW_S * 1000)) not_after=$((t0 + DEADLINE_S * 1000))
jq -c --argjson t "$not_before" '.not_before_ms = $t' "$T/early.raw" >"$T/early.jsonl"
jq -c --argjson t "$not_after" '.not_after_ms = $t' "$T/sms_late.raw" >"$T/sms_late.jsonl"
jq -c --argjson t "$not_after" '.not_after_ms = $t' "$T/wa_late.raw" >"$T/wa_late.jsonl"
"$ct" enqueue --quiet "$T/early.jsonl" "$T/sms_late.jsonl" "$T/wa_late.jsonl"
expect_eq "not_before stored" "$not_before" \
  "$(job_field "$(jq -r .id "$T/early.jsonl" | head -1)" .job.not_before_ms)"
waiting=$(spool_stat '.ready - .due')
if [ "$(now_ms)" -lt "$not_before" ]; then
  expect_eq "early jobs wait in the spool" "$early" "$waiting"
else # the set-up outlasted the window: the count came too late to mean anything
  echo "not checked: early jobs waiting in the spool (the count came after not_before)"
fi

start_ct --drain --report
# The daemon at work: every late job's first attempt has reached the mock.
attempted() {
  [ "$(mock_stat '.endpoints.twilio_messages.requests + .endpoints.whatsapp_messages.requests')" \
    -ge $((sms_late + wa_late)) ]
}
wait_until 60 attempted || fail "the late jobs' first attempts did not reach the mock within 60 s"
seen_at_work=$(now_ms)
wait_ct 60
expect_eq "carteiro run --drain exit status" 0 "$ct_status"
expect_eq "delivered" "$early" "$(jq -r .delivered "$T/run.out")"
expect_eq "dead" $((sms_late + wa_late)) "$(jq -r .dead "$T/run.out")"
expect_eq "spool delivered" "$early" "$(spool_stat .delivered)"
expect_eq "spool dead by reason" "{\"deadline_exceeded\":$((sms_late + wa_late))}" \
  "$(spool_stat '.dead_by_reason | tojson')"
expect_eq "spool ready" 0 "$(spool_stat .ready)"

# Not before the window: per the provider's arrival times, and per the receipts.
mock_get "/received?endpoint=sendgrid_mail&limit=4096" >"$T/mail.json"
expect_eq "e-mails received" "$early" "$(jq '[.records[] | select(.outcome == "ok")] | length' "$T/mail.json")"
first=$(jq '[.records[].at_ms] | min' "$T/mail.json")
expect_eq "first e-mail at or after not_before (${first} vs ${not_before})" true \
  "$(jq -n --argjson f "$first" --argjson t "$not_before" '$f >= $t')"
opened=$((not_before > seen_at_work ? not_before : seen_at_work))
echo "first attempts seen $((seen_at_work - t0)) ms after t0 (deadline ${DEADLINE_S} s);" \
  "first e-mail $((first - opened)) ms after the window opened to a daemon at work"
expect_eq "first e-mail within 2 s of the window opening to a daemon at work (${first} vs ${opened})" \
  true "$(jq -n --argjson f "$first" --argjson t "$opened" '$f < $t + 2000')"
for id in $(jq -r .id "$T/early.jsonl"); do
  expect_eq "$id state" delivered "$(job_field "$id" .state)"
  expect_eq "$id receipt at or after not_before" true \
    "$(job_field "$id" "[.receipt.parts[] | .at_ms >= $not_before] | all")"
done

# Past not_after, no retry: one 429 each, then the DLQ.
expect_eq "sms requests (one each, no retry past the deadline)" "$sms_late" \
  "$(mock_stat .endpoints.twilio_messages.requests)"
for id in $(jq -r .id "$T/sms_late.jsonl"); do
  expect_eq "$id state" dead "$(job_field "$id" .state)"
  expect_eq "$id reason" deadline_exceeded "$(job_field "$id" .reason)"
  expect_eq "$id attempts" "sms:transient:20429" "$(attempt_trail "$id")"
  expect_eq "$id attempt status" 429 "$(job_field "$id" '.attempts[0].http_status')"
done
expect_status "dlq list" 0 "$ct" dlq list --json --reason deadline_exceeded
expect_eq "dlq ids" "$(jq -r .id "$T/sms_late.jsonl" "$T/wa_late.jsonl" | sort | xargs)" \
  "$(jq -r '.[].id' "$T/out" | sort | xargs)"

# WhatsApp: the invoice message was sent in time and accepted after the deadline; the barcode
# line is not sent, and the dead letter records the message the customer did get.
expect_eq "whatsapp messages (first part only)" "$wa_late" \
  "$(mock_stat .endpoints.whatsapp_messages.outcomes.ok)"
expect_eq "whatsapp requests" "$wa_late" "$(mock_stat .endpoints.whatsapp_messages.requests)"
for id in $(jq -r .id "$T/wa_late.jsonl"); do
  expect_eq "$id state" dead "$(job_field "$id" .state)"
  expect_eq "$id reason" deadline_exceeded "$(job_field "$id" .reason)"
  expect_eq "$id receipt keeps the part sent" "whatsapp/wa-tim" "$(receipt_parts "$id")"
done
expect_eq "duplicates at the mock" 0 "$(mock_stat .total.duplicates)"

finish
