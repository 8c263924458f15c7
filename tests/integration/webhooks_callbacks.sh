#!/usr/bin/env bash
# The mock providers call a running carteiro back, as the real ones do: every status of every
# message carteiro sent (WhatsApp, SMS, e-mail), signed, some twice, some in reverse order,
# some messages failing after their 2xx (WhatsApp 131026, SendGrid bounces). Each event ends
# up in the spool exactly once, with the job and part carteiro correlated it with; every
# request carteiro sent carried User-Agent carteiro/<version>; an e-mail to "Araújo, José"
# goes out. Then carteiro is killed with SIGKILL while callbacks are arriving and started
# again: the mock sends again what was not answered 200, and no event answered 200 is lost.
# usage: webhooks_callbacks.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA [TELCO BANK]
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
telco=${5:-40} bank=${6:-12}
. "$(dirname "$0")/engine.sh"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

"$gen" --count "$telco" --seed 51 --profile telco --format jsonl --out "$T/telco.jsonl"
"$gen" --count "$bank" --seed 52 --start-id 501 --profile bank --format jsonl --out "$T/bank.jsonl"
# how billing systems often keep names: SendGrid refuses it unquoted
jq -c 'if .id == "inv-00000501" then .recipient.name = "Araújo, José Antônio" else . end' \
  "$T/bank.jsonl" >"$T/bank2.jsonl"
cat "$T/telco.jsonl" "$T/bank2.jsonl" >"$T/jobs.jsonl"
jobs=$((telco + bank))

port=$(free_port)
hook=https://127.0.0.1:$port
APP_SECRET=app-secret-synthetic
printf '%s\n' "$APP_SECRET" >"$T/wa.app"
cb=(--callback-ca "$T/ca/ca.crt" --sendgrid-public-key-out "$T/sg.pub")
for p in whatsapp twilio sendgrid; do
  cb+=(--callback "$p.on=1" --callback "$p.delay_ms=${CB_DELAY_MS:-40}" --callback "$p.duplicate=0.5"
       --callback "$p.reorder=0.3" --callback "$p.retries=14" --callback "$p.retry_ms=100")
done
cb+=(--callback "whatsapp.url=$hook/webhooks/wa-tim" --callback "whatsapp.secret=$APP_SECRET"
     --callback whatsapp.async_fail=0.05 --callback whatsapp.read=0.5
     --callback "sendgrid.url=$hook/webhooks/email" --callback sendgrid.async_fail=0.2
     --callback "twilio.url=$hook/webhooks/sms")
start_mock "${cb[@]}" # it makes $T/ca first, then reads the CA for its callbacks
export CARTEIRO_PROVIDER_WA_TIM_WEBHOOK_SECRET_FILE=$T/wa.app
CARTEIRO_PROVIDER_EMAIL_WEBHOOK_PUBLIC_KEY=$(cat "$T/sg.pub")
export CARTEIRO_PROVIDER_EMAIL_WEBHOOK_PUBLIC_KEY
LOG_LEVEL=info write_config "webhook_listen = 127.0.0.1:$port
webhook_public_url = $hook
webhook_tls_cert = $T/ca/server.crt
webhook_tls_key = $T/ca/server.key"
export CARTEIRO_SPOOL=$T/spool.db
"$ct" enqueue --quiet "$T/jobs.jsonl"

events() { sqlite3 "$T/spool.db" "$1"; }
cb_stat() { mock_get /stats | jq -r ".callbacks.$1"; }
# The callbacks the mock saw answered 200, as the ids carteiro stores their events under.
acked_ids() {
  mock_get "/callbacks?state=acked&limit=1000000" | jq -r '.records[] | select(.inbound | not) |
    if .provider == "whatsapp" then "wa:s:\(.message_id):\(.status)"
    elif .provider == "twilio" then "tw:s:\(.message_id):\(.status)"
    else "sg:\(.event_id)" end' | sort -u
}
quiet() { # every job settled and every callback answered (or given up)
  [ "$(spool_stat '.delivered + .dead')" = "$jobs" ] && [ "$(cb_stat pending)" = 0 ]
}

start_ct
wait_until 120 quiet || fail "not settled within 120 s: $(spool_stat '.delivered + .dead') of $jobs jobs, $(cb_stat pending) callbacks pending"

# ---- every status once, with its job ----
expect_eq "jobs delivered" "$jobs" "$(spool_stat .delivered)"
expect_eq "no callback given up" 0 "$(mock_get /stats | jq '[.callbacks | .whatsapp, .twilio, .sendgrid | .given_up] | add')"
acked_ids >"$T/acked.txt"
events "SELECT event_id FROM event ORDER BY event_id" >"$T/stored.txt"
expect_eq "events stored = distinct callbacks answered 200" "$(cat "$T/acked.txt")" "$(sort "$T/stored.txt")"
dups=$(mock_get "/callbacks?state=acked&limit=1000000" | jq '[.records[] | select(.duplicate)] | length')
acked=$(mock_get "/callbacks?state=acked&limit=1000000" | jq '.records | length')
[ "$dups" -gt 0 ] || fail "the mock sent no duplicate (seeded draws changed?)"
expect_eq "each event once, duplicates answered 200 and not stored again" "$((acked - dups))" \
  "$(wc -l <"$T/stored.txt")"
expect_eq "every status correlated with a job of ours" 0 \
  "$(events "SELECT count(*) FROM event WHERE job_id IS NULL")"
jq -r .id "$T/jobs.jsonl" | sort >"$T/ids.txt"
events "SELECT DISTINCT job_id FROM event" | sort >"$T/event_jobs.txt"
expect_eq "the events' jobs are the jobs sent" "" "$(comm -13 "$T/ids.txt" "$T/event_jobs.txt")"
# WhatsApp parts: 0 the invoice template, 1 the barcode; SMS and e-mail: 0
expect_eq "parts per account" "email|0
sms|0
wa-tim|0
wa-tim|1" "$(events "SELECT DISTINCT account, part FROM event ORDER BY account, part")"
fails=$(mock_get "/callbacks?state=acked&limit=1000000" | jq -r '[.records[] | select(.status == "failed") | .message_id] | unique | length')
expect_eq "131026 failures stored with their code" "$fails" \
  "$(events "SELECT count(DISTINCT message_id) FROM event WHERE event_id LIKE 'wa:s:%:failed' AND instr(body, CAST('131026' AS BLOB)) > 0")"

# ---- what the providers saw ----
expect_eq "User-Agent of every request" '["carteiro/0.1.0"]' \
  "$(mock_get "/received?limit=4096" | jq -c '[.records[].user_agent] | unique')"
expect_eq "e-mails accepted (a name with a comma too)" "$bank" "$(mock_stat .endpoints.sendgrid_mail.outcomes.ok)"
expect_eq "e-mails refused" 0 "$(mock_stat .endpoints.sendgrid_mail.outcomes.invalid)"

# ---- customers write: their messages kept by account and sender ----
wa_in=$(mock_post /callbacks/inbound '{"provider":"whatsapp","from":"5511987650099","text":"fatura","to":"1234567890","name":"Ana"}' | jq -r .message_id)
tw_in=$(mock_post /callbacks/inbound '{"provider":"twilio","from":"+5511987650098","text":"PARAR","to":"+5511300000000"}' | jq -r .message_id)
inbound_kept() { [ "$(events "SELECT count(*) FROM inbound")" = 2 ]; }
wait_until 30 inbound_kept || fail "inbound messages not kept: $(events "SELECT count(*) FROM inbound")"
expect_eq "inbound messages" "sms|$tw_in|+5511987650098
wa-tim|$wa_in|5511987650099" "$(events "SELECT account, message_id, sender FROM inbound ORDER BY account")"
expect_eq "inbound events pending for the processor" "tw:m:$tw_in
wa:m:$wa_in" "$(events "SELECT event_id FROM event WHERE kind = 2 ORDER BY event_id")"

# ---- SIGKILL while callbacks arrive: nothing answered 200 is lost ----
# statuses a second apart now, so that callbacks are still arriving when the kill comes
slow='{"callbacks": {"delay_ms": 1000}}'
mock_post /config "{\"whatsapp\": $slow, \"twilio\": $slow, \"sendgrid\": $slow}" >/dev/null
more=$((telco / 2))
"$gen" --count "$more" --seed 53 --start-id 9001 --profile telco --format jsonl --out "$T/more.jsonl"
"$ct" enqueue --quiet "$T/more.jsonl"
jobs=$((jobs + more))
before=$(cb_stat whatsapp.acked)
arriving() { [ "$(cb_stat whatsapp.acked)" -gt "$before" ] && [ "$(cb_stat pending)" -gt 0 ]; }
if wait_until 60 arriving; then
  kill -KILL "$ct_pid"
  wait "$ct_pid" 2>/dev/null || true
  ct_pid=""
  refused_while_down() { [ "$(mock_get /stats | jq '[.callbacks | .whatsapp, .twilio, .sendgrid | .errors] | add')" -gt 0 ]; }
  wait_until 10 refused_while_down || true
  start_ct
else
  fail "callbacks never arrived while jobs were in flight"
fi
wait_until 180 quiet || fail "not settled within 180 s after the restart: $(spool_stat '.delivered + .dead') of $jobs jobs, $(cb_stat pending) callbacks pending"
expect_eq "no callback given up across the kill" 0 "$(mock_get /stats | jq '[.callbacks | .whatsapp, .twilio, .sendgrid | .given_up] | add')"
[ "$(mock_get /stats | jq '[.callbacks | .whatsapp, .twilio, .sendgrid | .errors] | add')" -gt 0 ] ||
  fail "no callback met the killed listener (the kill came too late to test anything)"
acked_ids >"$T/acked.txt"
events "SELECT event_id FROM event WHERE kind = 1 ORDER BY event_id" | sort >"$T/stored.txt"
expect_eq "callbacks answered 200 and not in the store" "" "$(comm -23 "$T/acked.txt" "$T/stored.txt")"
expect_eq "events stored = distinct callbacks answered 200" "$(wc -l <"$T/acked.txt")" "$(wc -l <"$T/stored.txt")"
expect_eq "stored once each" "$(wc -l <"$T/stored.txt")" "$(events "SELECT count(DISTINCT event_id) FROM event WHERE kind = 1")"

stop_ct 15
expect_eq "carteiro exit status" 0 "$ct_status"
finish
