#!/usr/bin/env bash
# mock-provider end to end, over TLS with a CA made for this run: each provider's success and
# error shapes, HTTP/2 by ALPN and the HTTP/1.1 fallback, injected faults (429 + Retry-After,
# drop, stream reset, revoked credentials), permanent recipient rules, media upload hashes,
# exact /stats counts with duplicates, deterministic faults, the files kept for tests (media
# by id, SendGrid attachments by message id, eviction), and a clean stop on SIGTERM.
# usage: mock_provider.sh MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
mock=$1 gen_ca=$2
command -v curl >/dev/null || { echo "mock_provider.sh: needs curl (Debian package curl)" >&2; exit 1; }

mock_pid=""
stop_mock() {
  if [ -n "$mock_pid" ] && kill -0 "$mock_pid" 2>/dev/null; then
    kill -KILL "$mock_pid" 2>/dev/null || true
  fi
  keep_logs
  rm -rf "$T"
}
trap stop_mock EXIT

"$gen_ca" "$T/ca" >/dev/null
WA_TOKEN=wa-test-token
TW_SID=AC0123456789abcdef0123456789abcdef
TW_TOKEN=tw-test-token
SG_KEY=SG.test-key

"$mock" --cert "$T/ca/server.crt" --key "$T/ca/server.key" --port 0 --port-file "$T/port" \
  --seed 42 --whatsapp-token "$WA_TOKEN" --twilio-account "$TW_SID:$TW_TOKEN" \
  --sendgrid-key "$SG_KEY" --reject whatsapp=suffix:0007 >"$T/mock.out" 2>"$T/mock.err" &
mock_pid=$!
for _ in $(seq 100); do
  [ -s "$T/port" ] && break
  kill -0 "$mock_pid" 2>/dev/null || break
  sleep 0.05
done
if [ ! -s "$T/port" ]; then
  echo "FAIL: mock-provider did not start" >&2
  sed 's/^/  mock: /' "$T/mock.err" >&2
  exit 1
fi
port=$(cat "$T/port")
base=https://127.0.0.1:$port
expect_line "ready line" "$T/mock.out" "listening on https://127.0.0.1:$port"

# req ARGS...: one request; sets $code (HTTP status, 000 when none), $ver (HTTP version) and
# $rc (curl's exit status); the body is in $T/body, the response headers in $T/headers.
req() {
  local out
  rc=0
  out=$(curl -sS --max-time 5 --cacert "$T/ca/ca.crt" -o "$T/body" -D "$T/headers" \
    -w '%{http_code} %{http_version}' "$@" 2>"$T/curl.err") || rc=$?
  code=${out% *}
  ver=${out#* }
}
body() { jq -r "$1" "$T/body"; }
header() { tr -d '\r' <"$T/headers" | awk -v h="$1" 'tolower($1) == tolower(h) ":" { print $2 }'; }
admin_post() { curl -sS --max-time 5 --cacert "$T/ca/ca.crt" -X POST -d "$2" "$base$1" >/dev/null; }
stat_of() { curl -sS --max-time 5 --cacert "$T/ca/ca.crt" "$base/stats" | jq -r "$1"; }

wa_url=$base/v24.0/1234567890/messages
tw_url=$base/2010-04-01/Accounts/$TW_SID/Messages.json
sg_url=$base/v3/mail/send
wa_template() { # wa_template TO
  jq -cn --arg to "$1" '{messaging_product: "whatsapp", recipient_type: "individual", to: $to,
    type: "template", template: {name: "fatura_pdf", language: {code: "pt_BR"}, components: [
      {type: "header", parameters: [{type: "document", document: {
        link: "https://files.example.com/f/1.pdf", filename: "fatura.pdf"}}]},
      {type: "body", parameters: [{type: "text", text: "R$ 123,45"},
                                  {type: "text", text: "10/12/2026"}]}]}}'
}
wa_text() { # wa_text TO TEXT
  jq -cn --arg to "$1" --arg t "$2" '{messaging_product: "whatsapp", to: $to, type: "text",
    text: {body: $t}}'
}
sg_mail() { # sg_mail SUBJECT
  jq -cn --arg s "$1" '{personalizations: [{to: [{email: "joana@example.com"}]}],
    from: {email: "faturas@example.com"}, subject: $s,
    content: [{type: "text/plain", value: "Sua fatura"}, {type: "text/html", value: "<p>Sua fatura</p>"}]}'
}

# 1. WhatsApp: a valid template message, over HTTP/2.
req -H "Authorization: Bearer $WA_TOKEN" -H 'Content-Type: application/json' \
  -d "$(wa_template +5511987654321)" "$wa_url"
expect_eq "wa template status" 200 "$code"
expect_eq "wa negotiated HTTP/2" 2 "$ver"
expect_eq "wa wamid" true "$(body '.messages[0].id | startswith("wamid.")')"
expect_eq "wa wa_id" 5511987654321 "$(body '.contacts[0].wa_id')"
expect_eq "wa input echoed" +5511987654321 "$(body '.contacts[0].input')"
expect_eq "wa template accepted" accepted "$(body '.messages[0].message_status')"

# 2. WhatsApp errors: no token, malformed JSON, missing messaging_product, bad "to".
req -H 'Content-Type: application/json' -d "$(wa_template +5511987654321)" "$wa_url"
expect_eq "wa no auth status" 401 "$code"
expect_eq "wa no auth code" 190 "$(body .error.code)"
expect_eq "wa no auth type" OAuthException "$(body .error.type)"
req -H "Authorization: Bearer wrong" -d "$(wa_template +5511987654321)" "$wa_url"
expect_eq "wa bad token code" 190 "$(body .error.code)"
req -H "Authorization: Bearer $WA_TOKEN" -d '{"messaging_product": "whatsapp",' "$wa_url"
expect_eq "wa malformed status" 400 "$code"
expect_eq "wa malformed code" 100 "$(body .error.code)"
req -H "Authorization: Bearer $WA_TOKEN" -d '{"to": "5511987654321", "type": "text", "text": {"body": "x"}}' "$wa_url"
expect_eq "wa no product status" 400 "$code"
expect_eq "wa no product message" "(#100) The parameter messaging_product is required." "$(body .error.message)"
req -H "Authorization: Bearer $WA_TOKEN" -d "$(wa_text 11-98765 hi)" "$wa_url"
expect_eq "wa bad to code" 100 "$(body .error.code)"
req -H "Authorization: Bearer $WA_TOKEN" -d '{"messaging_product":"whatsapp","to":"5511987654321","type":"template","template":{"language":{"code":"pt_BR"}}}' "$wa_url"
expect_eq "wa template without name" "(#100) The parameter template['name'] is required." "$(body .error.message)"

# 3. A permanent recipient rule: numbers ending in 0007 are undeliverable.
req -H "Authorization: Bearer $WA_TOKEN" -d "$(wa_template 5511900000007)" "$wa_url"
expect_eq "wa rule status" 400 "$code"
expect_eq "wa rule code" 131026 "$(body .error.code)"

# 4. Twilio: valid, bad To, bad credentials.
req -u "$TW_SID:$TW_TOKEN" --data-urlencode 'To=+5511987654321' \
  --data-urlencode 'From=+15005550006' --data-urlencode 'Body=Fatura: 23793.38128 60000.000003' "$tw_url"
expect_eq "twilio status" 201 "$code"
expect_eq "twilio sid" true "$(body '.sid | test("^SM[0-9a-f]{32}$")')"
expect_eq "twilio queued" queued "$(body .status)"
expect_eq "twilio to" +5511987654321 "$(body .to)"
req -u "$TW_SID:$TW_TOKEN" --data-urlencode 'To=98765-4321' --data-urlencode 'From=+15005550006' \
  --data-urlencode 'Body=x' "$tw_url"
expect_eq "twilio bad To status" 400 "$code"
expect_eq "twilio bad To code" 21211 "$(body .code)"
expect_eq "twilio bad To message" "The 'To' number 98765-4321 is not a valid phone number." "$(body .message)"
expect_eq "twilio bad To more_info" https://www.twilio.com/docs/errors/21211 "$(body .more_info)"
req -u "$TW_SID:nope" --data-urlencode 'To=+5511987654321' --data-urlencode 'From=+15005550006' \
  --data-urlencode 'Body=x' "$tw_url"
expect_eq "twilio bad auth status" 401 "$code"
expect_eq "twilio bad auth code" 20003 "$(body .code)"

# 5. SendGrid: valid, missing personalizations.
req -H "Authorization: Bearer $SG_KEY" -H 'Content-Type: application/json' -d "$(sg_mail 'Fatura 11/2026')" "$sg_url"
expect_eq "sendgrid status" 202 "$code"
expect_eq "sendgrid empty body" 0 "$(wc -c <"$T/body")"
expect_eq "sendgrid message id present" true "$([ -n "$(header x-message-id)" ] && echo true || echo false)"
req -H "Authorization: Bearer $SG_KEY" -d '{"from":{"email":"faturas@example.com"},"subject":"s","content":[{"type":"text/plain","value":"x"}]}' "$sg_url"
expect_eq "sendgrid invalid status" 400 "$code"
expect_eq "sendgrid error field" personalizations "$(body '.errors[0].field')"
expect_eq "sendgrid error help" null "$(body '.errors[0].help')"
expect_eq "sendgrid one error" 1 "$(body '.errors | length')"
# a display name with ',' or ';' goes only quoted, as SendGrid's libraries send it
req -H "Authorization: Bearer $SG_KEY" -d "$(sg_mail 'n' | jq -c '.personalizations[0].to[0].name = "Araújo, José"')" "$sg_url"
expect_eq "sendgrid name with a comma: status" 400 "$code"
expect_eq "sendgrid name with a comma: field" personalizations.0.to.0.name "$(body '.errors[0].field')"
expect_eq "sendgrid name with a comma: message" "The to name cannot contain ';' or ',' unless it is quoted." "$(body '.errors[0].message')"
req -H "Authorization: Bearer $SG_KEY" -d "$(sg_mail 'n' | jq -c '.personalizations[0].to[0].name = "\"Araújo, José\""')" "$sg_url"
expect_eq "sendgrid name with a comma, quoted" 202 "$code"

# 6. Injected 429 with Retry-After, switched on and off at runtime.
admin_post /config '{"sendgrid": {"faults": {"rate_limit": 1, "retry_after": 7}}}'
req -H "Authorization: Bearer $SG_KEY" -d "$(sg_mail 'limited')" "$sg_url"
expect_eq "429 status" 429 "$code"
expect_eq "429 Retry-After" 7 "$(header retry-after)"
expect_eq "429 message" "too many requests" "$(body '.errors[0].message')"
admin_post /config '{"sendgrid": {"faults": {"rate_limit": 0}}}'

# 7. Connection drop and stream reset.
admin_post /config '{"sendgrid": {"faults": {"drop": 1}}}'
req -H "Authorization: Bearer $SG_KEY" -d "$(sg_mail 'dropped')" "$sg_url"
expect_eq "drop: no status" 000 "$code"
expect_eq "drop: curl failed" true "$([ "$rc" -ne 0 ] && echo true || echo false)"
admin_post /config '{"sendgrid": {"faults": {"drop": 0, "reset": 1}}}'
req -H "Authorization: Bearer $SG_KEY" -d "$(sg_mail 'reset')" "$sg_url"
expect_eq "reset: CURLE_HTTP2_STREAM" 92 "$rc"
admin_post /config '{"sendgrid": {"faults": {"reset": 0}}}'
expect_eq "dropped counted" 1 "$(stat_of .endpoints.sendgrid_mail.outcomes.dropped)"
expect_eq "reset counted" 1 "$(stat_of .endpoints.sendgrid_mail.outcomes.reset)"

# 8. Revoked credentials.
admin_post /config '{"whatsapp": {"revoked": true}}'
req -H "Authorization: Bearer $WA_TOKEN" -d "$(wa_template +5511987654321)" "$wa_url"
expect_eq "revoked status" 401 "$code"
expect_eq "revoked code" 190 "$(body .error.code)"
expect_eq "revoked subcode" 460 "$(body .error.error_subcode)"
admin_post /config '{"whatsapp": {"revoked": false}}'

# 9. Exact counts and duplicates: the same message twice, another once.
admin_post /stats/reset '{}'
for m in "segunda via" "segunda via" "outra mensagem"; do
  req -H "Authorization: Bearer $WA_TOKEN" -d "$(wa_text +5511912345678 "$m")" "$wa_url"
done
req -H "Authorization: Bearer $WA_TOKEN" -d "$(wa_text +5511912345678 "segunda via")" --http1.1 "$wa_url"
expect_eq "HTTP/1.1 fallback" "200 1.1" "$code $ver"
curl -sS --max-time 5 --cacert "$T/ca/ca.crt" "$base/stats" >"$T/stats.json"
s() { jq -r "$1" "$T/stats.json"; }
expect_eq "stats requests" 4 "$(s .endpoints.whatsapp_messages.requests)"
expect_eq "stats ok" 4 "$(s .endpoints.whatsapp_messages.outcomes.ok)"
expect_eq "stats unique keys" 2 "$(s .endpoints.whatsapp_messages.unique_keys)"
expect_eq "stats duplicates" 2 "$(s .endpoints.whatsapp_messages.duplicates)"
expect_eq "stats duplicates accepted" 2 "$(s .endpoints.whatsapp_messages.duplicates_accepted)"
expect_eq "stats account" 4 "$(s '.endpoints.whatsapp_messages.accounts["1234567890"].requests')"
expect_eq "stats other endpoints" 0 "$(s .endpoints.twilio_messages.requests)"
expect_eq "stats total duplicates" 2 "$(s .total.duplicates)"
curl -sS --max-time 5 --cacert "$T/ca/ca.crt" "$base/received?endpoint=whatsapp_messages&to=%2B5511912345678" >"$T/recv.json"
expect_eq "received records" 4 "$(jq '.records | length' "$T/recv.json")"
expect_eq "received duplicate flags" "false true false true" "$(jq -r '[.records[].duplicate] | map(tostring) | join(" ")' "$T/recv.json")"
expect_eq "received attempts" "0 1 0 2" "$(jq -r '[.records[].attempt] | map(tostring) | join(" ")' "$T/recv.json")"
expect_eq "received detail" "segunda via" "$(jq -r '.records[0].detail.text.body' "$T/recv.json")"

# 10. Faults are a function of (seed, message, attempt): the same 20 messages after a reset
# meet the same fates, whatever else happened in between.
admin_post /config '{"whatsapp": {"faults": {"rate_limit": 0.5}}}'
fates() {
  local out=""
  for i in $(seq 20); do
    req -H "Authorization: Bearer $WA_TOKEN" -d "$(wa_text +55119000010$((10 + i)) "fatura $i")" "$wa_url"
    out="$out$code "
  done
  echo "$out"
}
admin_post /stats/reset '{}'
first=$(fates)
admin_post /stats/reset '{}'
second=$(fates)
expect_eq "deterministic fates" "$first" "$second"
expect_eq "some 429 among 20" true "$(case "$first" in *429*) echo true ;; *) echo false ;; esac)"
expect_eq "some 200 among 20" true "$(case "$first" in *200*) echo true ;; *) echo false ;; esac)"
admin_post /config '{"whatsapp": {"faults": {"rate_limit": 0}}}'

# 11. Media upload keeps the SHA-256 of the bytes received.
printf '%%PDF-1.4\n%% synthetic invoice for tests\n%%%%EOF\n' >"$T/fatura.pdf"
req -H "Authorization: Bearer $WA_TOKEN" -F messaging_product=whatsapp -F type=application/pdf \
  -F "file=@$T/fatura.pdf;type=application/pdf" "$base/v24.0/1234567890/media"
expect_eq "media status" 200 "$code"
expect_eq "media id digits" true "$(body '.id | test("^[0-9]+$")')"
curl -sS --max-time 5 --cacert "$T/ca/ca.crt" "$base/received?endpoint=whatsapp_media" >"$T/recv.json"
expect_eq "media sha256" "$(sha256sum "$T/fatura.pdf" | cut -d' ' -f1)" "$(jq -r '.records[-1].sha256' "$T/recv.json")"

# 12. Kept media: the upload comes back by its id through the Cloud API's "retrieve media
# URL" and that URL, byte for byte; a template naming it records the document's hash.
printf '%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%%%EOF\n' >"$T/kept.pdf"
kept_sha=$(sha256sum "$T/kept.pdf" | cut -d' ' -f1)
kept_size=$(wc -c <"$T/kept.pdf")
req -H "Authorization: Bearer $WA_TOKEN" -F messaging_product=whatsapp -F type=application/pdf \
  -F "file=@$T/kept.pdf;type=application/pdf;filename=fatura-42.pdf" "$base/v24.0/1234567890/media"
expect_eq "kept upload status" 200 "$code"
media_id=$(body .id)
req -H "Authorization: Bearer $WA_TOKEN" "$base/v24.0/$media_id"
expect_eq "media url status" 200 "$code"
expect_eq "media url sha256" "$kept_sha" "$(body .sha256)"
expect_eq "media url file_size" "$kept_size" "$(body .file_size)"
expect_eq "media url mime_type" application/pdf "$(body .mime_type)"
expect_eq "media url id" "$media_id" "$(body .id)"
expect_eq "media url product" whatsapp "$(body .messaging_product)"
expect_eq "media url" "$base/media-download/$media_id" "$(body .url)"
media_url=$(body .url)
req -H "Authorization: Bearer $WA_TOKEN" "$base/v24.0/$media_id?phone_number_id=1234567890"
expect_eq "media url, own phone_number_id" 200 "$code"
req -H "Authorization: Bearer $WA_TOKEN" "$base/v24.0/$media_id?phone_number_id=5550001"
expect_eq "media url, other phone_number_id" "400 100" "$code $(body .error.code)"
req "$base/v24.0/$media_id"
expect_eq "media url without token" "401 190" "$code $(body .error.code)"
req -H "Authorization: Bearer $WA_TOKEN" "$media_url"
expect_eq "download status" 200 "$code"
expect_eq "download content-type" application/pdf "$(header content-type)"
expect_eq "download bytes" same "$(cmp -s "$T/kept.pdf" "$T/body" && echo same || echo differ)"
req "$media_url"
expect_eq "download without token" 401 "$code"
# an id of this instance's shape whose counter was never reached: never issued
unknown_id=${media_id:0:7}9999999999
req -H "Authorization: Bearer $WA_TOKEN" "$base/v24.0/$unknown_id"
expect_eq "unknown media url" "404 100 GraphMethodException" "$code $(body .error.code) $(body .error.type)"
req -H "Authorization: Bearer $WA_TOKEN" "$base/media-download/$unknown_id"
expect_eq "unknown media download" "404 100" "$code $(body .error.code)"
req -X DELETE -H "Authorization: Bearer $WA_TOKEN" "$base/media-download/$media_id"
expect_eq "media download takes GET only" "405 GET" "$code $(header allow)"

wa_doc_template() { # wa_doc_template TO MEDIA_ID
  jq -cn --arg to "$1" --arg id "$2" '{messaging_product: "whatsapp", to: $to, type: "template",
    template: {name: "fatura_pdf", language: {code: "pt_BR"}, components: [
      {type: "header", parameters: [{type: "document", document: {id: $id, filename: "fatura-42.pdf"}}]},
      {type: "body", parameters: [{type: "text", text: "R$ 42,00"}, {type: "text", text: "10/12/2026"}]}]}}'
}
req -H "Authorization: Bearer $WA_TOKEN" -d "$(wa_doc_template +5511955554444 "$media_id")" "$wa_url"
expect_eq "template naming the upload" 200 "$code"
curl -sS --max-time 5 --cacert "$T/ca/ca.crt" "$base/received?endpoint=whatsapp_messages&to=5511955554444" >"$T/recv.json"
expect_eq "record document_id" "$media_id" "$(jq -r '.records[-1].document_id' "$T/recv.json")"
expect_eq "record document_sha256" "$kept_sha" "$(jq -r '.records[-1].document_sha256' "$T/recv.json")"
expect_eq "record document_filename" fatura-42.pdf "$(jq -r '.records[-1].document_filename' "$T/recv.json")"
expect_eq "record sha256 of the document" "$kept_sha" "$(jq -r '.records[-1].sha256' "$T/recv.json")"
req -H "Authorization: Bearer $WA_TOKEN" -d "$(wa_doc_template +5511955554444 "$unknown_id")" "$wa_url"
expect_eq "template naming an unknown id" "400 131053" "$code $(body .error.code)"
expect_eq "unknown id message" "(#131053) Media upload error" "$(body .error.message)"
req -H "Authorization: Bearer $WA_TOKEN" -d "$(jq -cn --arg id "$unknown_id" '{messaging_product: "whatsapp",
  to: "5511955554444", type: "document", document: {id: $id}}')" "$wa_url"
expect_eq "document message naming an unknown id" "400 131053" "$code $(body .error.code)"

# 13. SendGrid attachments are decoded and hashed, and the bytes come back by message id.
sg_attached() { # sg_attached FILE
  jq -cn --arg c "$(base64 -w0 "$1")" '{personalizations: [{to: [{email: "joana@example.com"}]}],
    from: {email: "faturas@example.com"}, subject: "Fatura 42 em anexo",
    content: [{type: "text/plain", value: "Segue a fatura"}],
    attachments: [{content: $c, filename: "fatura-42.pdf", type: "application/pdf", disposition: "attachment"}]}'
}
req -H "Authorization: Bearer $SG_KEY" -H 'Content-Type: application/json' -d "$(sg_attached "$T/kept.pdf")" "$sg_url"
expect_eq "sendgrid with attachment" 202 "$code"
sg_id=$(header x-message-id)
curl -sS --max-time 5 --cacert "$T/ca/ca.crt" "$base/received?endpoint=sendgrid_mail" >"$T/recv.json"
expect_eq "sendgrid record message id" "$sg_id" "$(jq -r '.records[-1].message_id' "$T/recv.json")"
expect_eq "sendgrid record sha256" "$kept_sha" "$(jq -r '.records[-1].sha256' "$T/recv.json")"
expect_eq "sendgrid attachment summary sha256" "$kept_sha" "$(jq -r '.records[-1].detail.attachments[0].sha256' "$T/recv.json")"
expect_eq "sendgrid attachment summary bytes" "$kept_size" "$(jq -r '.records[-1].detail.attachments[0].bytes' "$T/recv.json")"
req "$base/attachments/$sg_id/0"
expect_eq "attachment status" 200 "$code"
expect_eq "attachment content-type" application/pdf "$(header content-type)"
expect_eq "attachment bytes" same "$(cmp -s "$T/kept.pdf" "$T/body" && echo same || echo differ)"
req "$base/attachments/$sg_id/1"
expect_eq "no second attachment" 404 "$code"
req -H "Authorization: Bearer $SG_KEY" -d "$(sg_attached "$T/kept.pdf" | jq -c '.attachments[0].content = "not base64!"')" "$sg_url"
expect_eq "bad base64 still SendGrid's error" "400 attachments.0.content" "$code $(body '.errors[0].field')"
curl -sS --max-time 5 --cacert "$T/ca/ca.crt" "$base/stats" >"$T/stats.json"
expect_eq "store: two uploads and one attachment" "3 $((kept_size * 2 + $(wc -c <"$T/fatura.pdf")))" \
  "$(jq -r '"\(.store.files) \(.store.bytes)"' "$T/stats.json")"

# 14. SIGTERM stops it cleanly.
kill -TERM "$mock_pid"
stop_rc=0
wait "$mock_pid" || stop_rc=$?
expect_eq "exit status after SIGTERM" 0 "$stop_rc"
expect_eq "port file removed" false "$([ -e "$T/port" ] && echo true || echo false)"
mock_pid=""

# 15. Eviction, on a second instance keeping two files: a third upload evicts the first, and
# lowering keep_files at runtime evicts at once. An evicted id stays a valid media id.
"$mock" --cert "$T/ca/server.crt" --key "$T/ca/server.key" --port 0 --port-file "$T/port2" \
  --whatsapp-token "$WA_TOKEN" --keep-files 2 -q >"$T/mock2.out" 2>"$T/mock2.err" &
mock_pid=$!
for _ in $(seq 100); do
  [ -s "$T/port2" ] && break
  kill -0 "$mock_pid" 2>/dev/null || break
  sleep 0.05
done
base=https://127.0.0.1:$(cat "$T/port2")
wa_url=$base/v24.0/1234567890/messages
ids=()
for i in 1 2 3; do
  printf '%%PDF-1.4\n%% fatura %s\n%%%%EOF\n' "$i" >"$T/evict$i.pdf"
  req -H "Authorization: Bearer $WA_TOKEN" -F messaging_product=whatsapp -F type=application/pdf \
    -F "file=@$T/evict$i.pdf;type=application/pdf" "$base/v24.0/1234567890/media"
  ids+=("$(body .id)")
done
req -H "Authorization: Bearer $WA_TOKEN" "$base/media-download/${ids[0]}"
expect_eq "first upload evicted" "404 100" "$code $(body .error.code)"
req -H "Authorization: Bearer $WA_TOKEN" "$base/media-download/${ids[1]}"
expect_eq "second upload kept" 200 "$code"
expect_eq "second upload bytes" same "$(cmp -s "$T/evict2.pdf" "$T/body" && echo same || echo differ)"
admin_post /config '{"keep_files": 1}'
req -H "Authorization: Bearer $WA_TOKEN" "$base/media-download/${ids[1]}"
expect_eq "second upload evicted by keep_files 1" 404 "$code"
req -H "Authorization: Bearer $WA_TOKEN" "$base/media-download/${ids[2]}"
expect_eq "third upload kept" 200 "$code"
expect_eq "store after eviction" "1 2 3" "$(stat_of '"\(.store.files) \(.store.evicted) \(.store.stored)"')"
req -H "Authorization: Bearer $WA_TOKEN" -d "$(wa_doc_template +5511955554444 "${ids[0]}")" "$wa_url"
expect_eq "template naming an evicted id" 200 "$code"
curl -sS --max-time 5 --cacert "$T/ca/ca.crt" "$base/received?endpoint=whatsapp_messages" >"$T/recv.json"
expect_eq "evicted id recorded, its hash unknown" "${ids[0]} null" \
  "$(jq -r '.records[-1] | "\(.document_id) \(.document_sha256)"' "$T/recv.json")"
kill -TERM "$mock_pid"
stop_rc=0
wait "$mock_pid" || stop_rc=$?
expect_eq "second instance exit status after SIGTERM" 0 "$stop_rc"
mock_pid=""

finish
