#!/usr/bin/env bash
# Permanent per-recipient failures: a WhatsApp recipient the provider refuses for good gets the
# invoice by SMS; one refused on WhatsApp and on SMS ends in the DLQ as permanent_failure with
# both failures in its history; a bank job whose e-mail is refused for good (no fallback) is
# dead-lettered while its independent SMS delivery still goes out. Once the provider stops
# refusing, `carteiro dlq replay` and another run deliver the dead letters, and nothing is sent
# twice.
# usage: delivery_fallback.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"

telco=20 bank=6
"$gen" --count "$telco" --seed 31 --profile telco --format jsonl --out "$T/telco.jsonl"
"$gen" --count "$bank" --seed 32 --start-id 101 --profile bank --format jsonl --out "$T/bank.jsonl"
cat "$T/telco.jsonl" "$T/bank.jsonl" >"$T/jobs.jsonl"
# The rules below name recipients; they must name no other job's recipient.
expect_eq "distinct phones" $((telco + bank)) "$(jq -r .recipient.phone "$T/jobs.jsonl" | sort -u | wc -l)"

# The attempts that failed, as "channel:outcome:error_code" (accepted sends are in the receipt).
failure_trail() {
  job_field "$1" '[.attempts[] | select(.outcome != "accepted") | "\(.channel):\(.outcome):\(.error_code)"] | join(",")'
}
ids() { jq -r .id "$1" | sed -n "$2p"; }
digits() { jq -r .recipient.phone "$1" | sed -n "$2p" | tr -d +; }
wa_only=$(ids "$T/telco.jsonl" 1,4)     # refused on WhatsApp: fall back to SMS
wa_and_sms=$(ids "$T/telco.jsonl" 5,7)  # refused on both: DLQ
mail_refused=$(ids "$T/bank.jsonl" 1,2) # e-mail refused, no fallback: DLQ, SMS still sent
rules=()
for r in $(digits "$T/telco.jsonl" 1,7); do rules+=(--reject "whatsapp=exact:$r"); done
for r in $(digits "$T/telco.jsonl" 5,7); do rules+=(--reject "twilio=exact:$r"); done
for r in $(jq -r .recipient.email "$T/bank.jsonl" | sed -n 1,2p); do
  rules+=(--reject "sendgrid=exact:$r")
done
start_mock "${rules[@]}"
write_config
export CARTEIRO_SPOOL=$T/spool.db
"$ct" enqueue --quiet "$T/jobs.jsonl"

run_drain 60
# 13 telco jobs on WhatsApp, 4 by SMS, 4 bank jobs; 3 telco and 2 bank jobs dead.
expect_eq "delivered" 21 "$(report .delivered)"
expect_eq "delivered using whatsapp" 13 "$(report .delivered_whatsapp)"
expect_eq "delivered using sms" 8 "$(report .delivered_sms)"
expect_eq "delivered using email" 4 "$(report .delivered_email)"
expect_eq "dead" 5 "$(report .dead)"
expect_eq "spool delivered" 21 "$(spool_stat .delivered)"
expect_eq "spool dead" 5 "$(spool_stat .dead)"
expect_eq "spool dead by reason" '{"permanent_failure":5}' "$(spool_stat '.dead_by_reason | tojson')"
expect_eq "spool ready" 0 "$(spool_stat .ready)"

# What the providers saw: each refusal once, SMS only for the fallbacks and the bank jobs.
expect_eq "whatsapp accepted" 26 "$(mock_stat .endpoints.whatsapp_messages.outcomes.ok)"
expect_eq "whatsapp refused" 7 "$(mock_stat .endpoints.whatsapp_messages.outcomes.rejected)"
expect_eq "sms refused" 3 "$(mock_stat .endpoints.twilio_messages.outcomes.rejected)"
expect_eq "email accepted" 4 "$(mock_stat .endpoints.sendgrid_mail.outcomes.ok)"
expect_eq "email refused" 2 "$(mock_stat .endpoints.sendgrid_mail.outcomes.rejected)"
want_sms=$( (digits "$T/telco.jsonl" 1,4; jq -r .recipient.phone "$T/bank.jsonl" | tr -d +) |
           sort | xargs)
expect_eq "sms accepted for exactly the fallbacks and the bank jobs" "$want_sms" \
  "$(received_recipients twilio_messages ok | xargs)"
expect_eq "duplicates at the mock" 0 "$(mock_stat .total.duplicates)"

for id in $wa_only; do
  expect_eq "$id state" delivered "$(job_field "$id" .state)"
  expect_eq "$id failed attempts" "whatsapp:permanent:131026" "$(failure_trail "$id")"
  expect_eq "$id whatsapp refusal status" 400 "$(job_field "$id" '.attempts[0].http_status')"
  expect_eq "$id receipt" "sms/sms" "$(receipt_parts "$id")"
done

expect_status "dlq list" 0 "$ct" dlq list --json --reason permanent_failure
expect_eq "dlq ids" "$(printf '%s\n' $wa_and_sms $mail_refused | sort | xargs)" \
  "$(jq -r '.[].id' "$T/out" | sort | xargs)"
for id in $wa_and_sms; do
  expect_eq "$id dlq channel" sms "$(jq -r --arg id "$id" '.[] | select(.id == $id) | .channel' "$T/out")"
  expect_eq "$id dlq attempts" 2 "$(jq -r --arg id "$id" '.[] | select(.id == $id) | .attempts' "$T/out")"
done
for id in $wa_and_sms; do
  expect_status "dlq show $id" 0 "$ct" dlq show --json "$id"
  expect_eq "$id state" dead "$(jq -r .state "$T/out")"
  expect_eq "$id reason" permanent_failure "$(jq -r .reason "$T/out")"
  expect_eq "$id attempts" "whatsapp:permanent:131026,sms:permanent:21610" \
    "$(jq -r '[.attempts[] | "\(.channel):\(.outcome):\(.error_code)"] | join(",")' "$T/out")"
  expect_eq "$id attempt providers" "wa-tim,sms" "$(jq -r '[.attempts[].provider] | join(",")' "$T/out")"
  expect_eq "$id nothing accepted" "" "$(jq -r '[(.receipt.parts // [])[]] | map(.channel) | join(",")' "$T/out")"
done
# Bank: the e-mail delivery has no fallback, so the job is dead; its SMS delivery is a separate
# delivery and was sent, and the receipt says so (a replay must not send it again).
for id in $mail_refused; do
  expect_status "dlq show $id" 0 "$ct" dlq show --json "$id"
  expect_eq "$id state" dead "$(jq -r .state "$T/out")"
  expect_eq "$id reason" permanent_failure "$(jq -r .reason "$T/out")"
  expect_eq "$id failed attempts" "email:permanent:http_400" \
    "$(jq -r '[.attempts[] | select(.outcome != "accepted") | "\(.channel):\(.outcome):\(.error_code)"] | join(",")' "$T/out")"
  expect_eq "$id receipt" "sms/sms" "$(jq -r '[(.receipt.parts // [])[] | "\(.channel)/\(.provider)"] | join(",")' "$T/out")"
done

# The provider stops refusing; the on-call engineer replays the dead letters.
expect_eq "mock reconfigured" '{"ok":true}' \
  "$(mock_post /config '{"whatsapp":{"reject":[]},"twilio":{"reject":[]},"sendgrid":{"reject":[]}}' | jq -c '{ok: (.error == null)}')"
expect_eq "mock rules gone" 0 "$(mock_get /config | jq '[.whatsapp.reject, .twilio.reject, .sendgrid.reject] | map(length) | add')"
expect_status "dlq replay" 0 "$ct" dlq replay --yes
expect_line "replayed" "$T/out" "replayed 5 dead letters"
expect_eq "ready after replay" 5 "$(spool_stat .ready)"
run_drain 60
expect_eq "replay run delivered" 5 "$(report .delivered)"
expect_eq "replay run dead" 0 "$(report .dead)"
expect_eq "spool delivered after replay" 26 "$(spool_stat .delivered)"
expect_eq "spool dead after replay" 0 "$(spool_stat .dead)"
expect_eq "spool ready after replay" 0 "$(spool_stat .ready)"
for id in $wa_and_sms; do
  expect_eq "$id state after replay" delivered "$(job_field "$id" .state)"
  # Either channel may carry it now; whichever did, its parts are all there.
  parts=$(receipt_parts "$id")
  echo "$id delivered after replay by: $parts"
  case "$parts" in
    "whatsapp/wa-tim,whatsapp/wa-tim" | "sms/sms") checks=$((checks + 1)) ;;
    *) fail "$id receipt after replay: expected 2 WhatsApp parts or 1 SMS part, got [$parts]" ;;
  esac
  expect_eq "$id history kept" "whatsapp:permanent:131026,sms:permanent:21610" "$(failure_trail "$id")"
done
for id in $mail_refused; do
  expect_eq "$id state after replay" delivered "$(job_field "$id" .state)"
  expect_eq "$id receipt after replay" "email,sms" \
    "$(job_field "$id" '[.receipt.parts[].channel] | sort | join(",")')"
done
# Nothing reached a customer twice: the bank jobs' SMS were not sent again by the replay.
expect_eq "duplicates after replay" 0 "$(mock_stat .total.duplicates)"
expect_eq "email accepted after replay" 6 "$(mock_stat .endpoints.sendgrid_mail.outcomes.ok)"
expect_eq "sms sent to bank recipients once each" "$(jq -r .recipient.phone "$T/bank.jsonl" | tr -d + | sort | xargs)" \
  "$(received_recipients twilio_messages ok | grep -Fx -f <(jq -r .recipient.phone "$T/bank.jsonl" | tr -d +) | xargs)"

finish
