#!/usr/bin/env bash
# The webhook listener of a running `carteiro run`, spoken to the way each provider speaks, with
# signatures made by OpenSSL's command line (not carteiro's code): Meta's verification
# handshake; WhatsApp, Twilio and SendGrid callbacks answered 200 only once stored, each event
# stored once however often it comes; statuses and inbound messages in the spool with their
# job and part; forged, unsigned, stale, malformed and oversized requests refused with the
# documented status and JSON error, stored nothing, and counted on /metrics.
# usage: webhooks_listener.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_mock
port=$(free_port)
APP_SECRET=app-secret-synthetic
VERIFY_TOKEN=verify-token-synthetic
printf '%s\n' "$APP_SECRET" >"$T/wa.app"
printf '%s\n' "$VERIFY_TOKEN" >"$T/wa.verify"
printf 'hooks-token-synthetic\n' >"$T/http.token"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/sg.pem" 2>/dev/null
export CARTEIRO_PROVIDER_WA_TIM_WEBHOOK_SECRET_FILE=$T/wa.app
export CARTEIRO_PROVIDER_WA_TIM_WEBHOOK_VERIFY_TOKEN_FILE=$T/wa.verify
CARTEIRO_PROVIDER_EMAIL_WEBHOOK_PUBLIC_KEY=$(openssl pkey -in "$T/sg.pem" -pubout -outform DER | base64 -w0)
export CARTEIRO_PROVIDER_EMAIL_WEBHOOK_PUBLIC_KEY
PUBLIC=https://hooks.example.com
LOG_LEVEL=info write_config "http_listen = 127.0.0.1:0
http_token_file = $T/http.token
webhook_listen = 127.0.0.1:$port
webhook_public_url = $PUBLIC/
webhook_tls_cert = $T/ca/server.crt
webhook_tls_key = $T/ca/server.key
webhook_max_body_kb = 64"
export CARTEIRO_SPOOL=$T/spool.db
start_ct
listening() { grep -q 'http: listening on 127.0.0.1:' "$T/run.log" && grep -q 'webhooks: listening' "$T/run.log"; }
wait_until 15 listening || { fail "carteiro did not start listening"; sed 's/^/  run: /' "$T/run.log" >&2; finish; exit 1; }
api=http://127.0.0.1:$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
hook=https://127.0.0.1:$port
expect_line "the URL to register with Meta" <(jq -r 'select(.msg | startswith("webhooks: [provider.wa-tim]")) | .msg' "$T/run.log") \
  "webhooks: [provider.wa-tim] whatsapp URL: $PUBLIC/webhooks/wa-tim"

# call METHOD PATH [CURL ARGS...]: the answer's status; its body in $T/body
call() {
  local method=$1 path=$2
  shift 2
  curl -sS --max-time 10 --cacert "$T/ca/ca.crt" -o "$T/body" -w '%{http_code}' -X "$method" "$@" "$hook$path"
}
hmac256() { openssl dgst -sha256 -hmac "$1" -r | cut -d' ' -f1; }
wa_post() { # BODY [SIGNATURE]
  local sig=${2:-sha256=$(printf '%s' "$1" | hmac256 "$APP_SECRET")}
  call POST /webhooks/wa-tim -H 'Content-Type: application/json' -H "X-Hub-Signature-256: $sig" --data-binary "$1"
}
events() { sqlite3 "$T/spool.db" "$1"; }

# ---- Meta's verification handshake: no signature, the challenge echoed ----
expect_eq "handshake: 200" 200 "$(call GET "/webhooks/wa-tim?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=$VERIFY_TOKEN")"
expect_eq "handshake: the challenge" 1158201444 "$(cat "$T/body")"
expect_eq "handshake, another token: 403" 403 "$(call GET "/webhooks/wa-tim?hub.mode=subscribe&hub.challenge=1&hub.verify_token=guess")"
expect_eq "handshake, another token: error" '{"error":"wrong verify token"}' "$(cat "$T/body")"

# ---- WhatsApp: a status with its correlation, an inbound message, duplicates ----
wa_status='{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"1234567890"},"statuses":[{"id":"wamid.S1","status":"sent","timestamp":"1750857384","recipient_id":"5511987650001","biz_opaque_callback_data":"ct:0:inv-7"},{"id":"wamid.S1","status":"failed","timestamp":"1750857385","recipient_id":"5511987650001","biz_opaque_callback_data":"ct:0:inv-7","errors":[{"code":131026,"title":"Message undeliverable"}]}]}}]}]}'
expect_eq "wa statuses: 200" 200 "$(wa_post "$wa_status")"
expect_eq "wa statuses again (Meta retries): 200" 200 "$(wa_post "$wa_status")"
# escaped unicode, as Meta sends it: the signature is over these bytes, not the decoded text
wa_inbound='{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"1234567890"},"contacts":[{"profile":{"name":"Jo\u00e3o"},"wa_id":"5511987650002"}],"messages":[{"from":"5511987650002","id":"wamid.M1","timestamp":"1739321024","type":"text","text":{"body":"fatura \u00e1 https:\/\/x.example.com"}}]}}]}]}'
expect_eq "wa inbound: 200" 200 "$(wa_post "$wa_inbound")"

# ---- refused, stored nothing, counted ----
expect_eq "forged: 403" 403 "$(wa_post "${wa_status/failed/delivered}" "sha256=$(printf '%s' "$wa_status" | hmac256 "$APP_SECRET")")"
expect_eq "forged: error" '{"error":"signature does not verify"}' "$(cat "$T/body")"
expect_eq "signed with another secret: 403" 403 "$(wa_post "$wa_status" "sha256=$(printf '%s' "$wa_status" | hmac256 other-secret)")"
expect_eq "unsigned: 401" 401 "$(call POST /webhooks/wa-tim --data-binary "$wa_status")"
expect_eq "unsigned: error" '{"error":"missing signature"}' "$(cat "$T/body")"
expect_eq "signed, not JSON: 400" 400 "$(wa_post 'not json')"
expect_eq "signed, not JSON: error" '{"error":"body is not JSON (line 1, column 3)"}' "$(cat "$T/body")"
big=$(head -c 70000 /dev/zero | tr '\0' a)
expect_eq "over webhook_max_body_kb: 413" 413 "$(wa_post "$big")"
expect_eq "over webhook_max_body_kb: error" '{"error":"body larger than the limit"}' "$(cat "$T/body")"
expect_eq "no such account: 404" 404 "$(call POST /webhooks/nobody --data-binary x)"
expect_eq "no such account: error" '{"error":"no such route"}' "$(cat "$T/body")"
expect_eq "PUT: 405" 405 "$(call PUT /webhooks/wa-tim --data-binary x)"

# ---- Twilio: signed over the configured public URL with its query, params sorted ----
twilio_sig() { # URL NAME VALUE...: base64 HMAC-SHA1 of the URL then the pairs sorted by name
  local url=$1
  shift
  { printf '%s' "$url"
    while [ $# -gt 0 ]; do printf '%s\t%s\n' "$1" "$2"; shift 2; done | LC_ALL=C sort -t$'\t' -k1,1 | tr -d '\t\n'
  } | openssl dgst -sha1 -hmac "$TW_TOKEN" -binary | base64
}
SID=SM0123456789abcdef0123456789abcdef
tw_status="MessageSid=$SID&SmsSid=$SID&MessageStatus=undelivered&SmsStatus=undelivered&ErrorCode=30007&To=%2B5511987650003&From=%2B5511300000000&AccountSid=$TW_SID&ApiVersion=2010-04-01"
sig=$(twilio_sig "$PUBLIC/webhooks/sms?job=inv-9&part=0" MessageSid $SID SmsSid $SID MessageStatus undelivered \
  SmsStatus undelivered ErrorCode 30007 To +5511987650003 From +5511300000000 AccountSid $TW_SID ApiVersion 2010-04-01)
expect_eq "twilio status: 200" 200 "$(call POST '/webhooks/sms?job=inv-9&part=0' -H "X-Twilio-Signature: $sig" --data "$tw_status")"
expect_eq "twilio status: TwiML" '<?xml version="1.0" encoding="UTF-8"?><Response/>' "$(cat "$T/body")"
# the job named in the URL is signed too: another job is another URL
expect_eq "twilio, URL changed: 403" 403 "$(call POST '/webhooks/sms?job=inv-8&part=0' -H "X-Twilio-Signature: $sig" --data "$tw_status")"
SID2=SM00000000000000000000000000000002
tw_inbound="MessageSid=$SID2&SmsSid=$SID2&SmsStatus=received&Body=Fatura+por+favor&From=%2B5511987650004&To=%2B5511300000000&NumMedia=0&AccountSid=$TW_SID"
sig=$(twilio_sig "$PUBLIC/webhooks/sms" MessageSid $SID2 SmsSid $SID2 SmsStatus received Body "Fatura por favor" \
  From +5511987650004 To +5511300000000 NumMedia 0 AccountSid $TW_SID)
expect_eq "twilio inbound: 200" 200 "$(call POST /webhooks/sms -H "X-Twilio-Signature: $sig" --data "$tw_inbound")"

# ---- SendGrid: ECDSA P-256 over timestamp + body, within the tolerance ----
sg_post() { # BODY TIMESTAMP
  local sig
  sig=$(printf '%s%s' "$2" "$1" | openssl dgst -sha256 -sign "$T/sg.pem" | base64 -w0)
  call POST /webhooks/email -H 'Content-Type: application/json' \
    -H "X-Twilio-Email-Event-Webhook-Signature: $sig" -H "X-Twilio-Email-Event-Webhook-Timestamp: $2" --data-binary "$1"
}
sg_body='[{"email":"maria.teste@example.com","timestamp":1513299569,"event":"bounce","type":"bounce","status":"5.1.1","sg_event_id":"ZGVsaXZlcmVkLTAtMjQ","sg_message_id":"W3nQd5k9TyqE0Zv9DqBfTg.filterdrecv-1","ct_job":"inv-11","ct_part":"0"},{"email":"maria.teste@example.com","timestamp":1513299570,"event":"processed","sg_event_id":"cHJvY2Vzc2VkLTE","sg_message_id":"W3nQd5k9TyqE0Zv9DqBfTg.filterdrecv-1","ct_job":"inv-11","ct_part":"0"}]'
expect_eq "sendgrid: 200" 200 "$(sg_post "$sg_body" "$(date +%s)")"
expect_eq "sendgrid again: 200" 200 "$(sg_post "$sg_body" "$(date +%s)")"
expect_eq "sendgrid, an hour old: 403" 403 "$(sg_post "$sg_body" $(( $(date +%s) - 3600 )))"
expect_eq "sendgrid, an hour old: error" '{"error":"signed timestamp outside the tolerance"}' "$(cat "$T/body")"

# ---- the store: each event once, with its job and part; inbound messages kept ----
expect_eq "events stored" \
  "sg:ZGVsaXZlcmVkLTAtMjQ|1|email|W3nQd5k9TyqE0Zv9DqBfTg|inv-11
sg:cHJvY2Vzc2VkLTE|1|email|W3nQd5k9TyqE0Zv9DqBfTg|inv-11
tw:m:$SID2|2|sms|$SID2|
tw:s:$SID:undelivered|1|sms|$SID|inv-9
wa:m:wamid.M1|2|wa-tim|wamid.M1|
wa:s:wamid.S1:failed|1|wa-tim|wamid.S1|inv-7
wa:s:wamid.S1:sent|1|wa-tim|wamid.S1|inv-7" \
  "$(events "SELECT event_id, kind, account, message_id, coalesce(job_id, '') FROM event ORDER BY event_id")"
expect_eq "events pending for the processor" 7 "$(events "SELECT count(*) FROM event WHERE state = 0")"
expect_eq "inbound messages kept by sender" "sms|+5511987650004
wa-tim|5511987650002" "$(events "SELECT account, sender FROM inbound ORDER BY account")"

# ---- /metrics: what was stored, duplicated and refused, per account ----
scrape() { curl -s --max-time 10 -o "$T/metrics.txt" -w '%{http_code}' "$api/metrics"; }
m() { awk -v k="$1" '$1 == k { print $2 }' "$T/metrics.txt"; }
expect_eq "metrics: 200" 200 "$(scrape)"
expect_eq "wa-tim events stored" 3 "$(m 'carteiro_webhook_events_total{account="wa-tim",result="stored"}')"
expect_eq "wa-tim events duplicate" 2 "$(m 'carteiro_webhook_events_total{account="wa-tim",result="duplicate"}')"
expect_eq "wa-tim bad signatures" 2 "$(m 'carteiro_webhook_refused_total{account="wa-tim",reason="bad_signature"}')"
expect_eq "wa-tim missing signatures" 1 "$(m 'carteiro_webhook_refused_total{account="wa-tim",reason="missing_signature"}')"
expect_eq "wa-tim malformed" 1 "$(m 'carteiro_webhook_refused_total{account="wa-tim",reason="malformed"}')"
expect_eq "wa-tim too large" 1 "$(m 'carteiro_webhook_refused_total{account="wa-tim",reason="too_large"}')"
expect_eq "wa-tim wrong verify token" 1 "$(m 'carteiro_webhook_refused_total{account="wa-tim",reason="bad_verify_token"}')"
expect_eq "wa-tim handshakes" 1 "$(m 'carteiro_webhook_handshakes_total{account="wa-tim"}')"
expect_eq "sms bad signatures" 1 "$(m 'carteiro_webhook_refused_total{account="sms",reason="bad_signature"}')"
expect_eq "sms events stored" 2 "$(m 'carteiro_webhook_events_total{account="sms",result="stored"}')"
expect_eq "email stored" 2 "$(m 'carteiro_webhook_events_total{account="email",result="stored"}')"
expect_eq "email duplicate" 2 "$(m 'carteiro_webhook_events_total{account="email",result="duplicate"}')"
expect_eq "email stale" 1 "$(m 'carteiro_webhook_refused_total{account="email",reason="stale_timestamp"}')"
gauges() { scrape >/dev/null && [ "$(m 'carteiro_webhook_events{state="pending"}')" = 7 ]; }
wait_until 10 gauges || fail "carteiro_webhook_events{state=\"pending\"}: expected 7, got $(m 'carteiro_webhook_events{state="pending"}')"
expect_eq "inbound messages gauge" 2 "$(m carteiro_inbound_messages)"
if command -v promtool >/dev/null; then
  lint_rc=0
  promtool check metrics <"$T/metrics.txt" >"$T/lint.out" 2>&1 || lint_rc=$?
  expect_eq "promtool check metrics" "0:" "$lint_rc:$(cat "$T/lint.out")"
fi
# the refusals are logged by account and reason, never with the body
expect_eq "refusals logged" 2 "$(jq -r 'select(.msg == "webhook refused" and .account == "wa-tim" and .reason == "bad_signature") | .reason' "$T/run.log" | wc -l)"
expect_no_match "no recipient in the log" "$T/run.log" "5511987650001"

# SIGTERM: the listener closes with the rest, exit 0
stop_ct 15
expect_eq "carteiro exit status" 0 "$ct_status"
finish
