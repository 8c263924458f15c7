#!/usr/bin/env bash
# Invoice PDFs, end to end: generated invoices with real PDFs are delivered on WhatsApp (media
# upload, then the template that refers to it) and e-mail (attachment), locked with the
# recipient's password. The PDFs taken back from the mock open with the right password and
# not with a wrong one or none — judged by qpdf and poppler — and show the invoice number and
# amount; the hash in each receipt is the SHA-256 of what the mock received; a send that fails
# after the upload does not upload again. An invoice sent on WhatsApp and by e-mail is
# protected once and both carry the same file. Then the documents that must not go out: a path
# out of the root, a file that is not a PDF, an already encrypted PDF, an oversized URL answer
# and a URL that never answers, each ending with its own reason.
# usage: delivery_documents.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"
for tool in qpdf pdfinfo pdftotext openssl; do
  command -v $tool >/dev/null || { echo "delivery_documents.sh: needs $tool (tools/setup)" >&2; exit 1; }
done

# Phase 1: delivery. WhatsApp template messages fail now and then after their upload went
# through, so some jobs come back for the rest of their parts.
start_mock --fault whatsapp.server_error=0.25
write_config "document_root = $T/docs"
export CARTEIRO_SPOOL=$T/spool.db
"$gen" --count 12 --seed 61 --profile telco --pdf dir="$T/docs" --format jsonl --out "$T/telco.jsonl"
"$gen" --count 8 --seed 62 --profile bank --start-id 100 --pdf dir="$T/docs" --format jsonl --out "$T/bank.jsonl"
"$ct" enqueue --quiet "$T/telco.jsonl" "$T/bank.jsonl"
run_drain 120
expect_eq "delivered" 20 "$(report .delivered)"
expect_eq "dead" 0 "$(report .dead)"
expect_eq "each telco PDF uploaded once" 12 "$(mock_stat .endpoints.whatsapp_media.outcomes.ok)"
expect_eq "no upload repeated" 0 "$(mock_stat .endpoints.whatsapp_media.duplicates)"
expect_eq "some sends failed after their upload" true \
  "$(mock_stat '.endpoints.whatsapp_messages.outcomes.server_error > 0')"
expect_eq "templates + barcodes" 24 "$(mock_stat .endpoints.whatsapp_messages.unique_keys)"
expect_eq "e-mails with attachment" 8 "$(mock_stat .endpoints.sendgrid_mail.outcomes.ok)"

# The history keeps every request: each job shows one accepted attempt per receipt part, even
# when a later part of the same lease failed.
mismatch=0
for id in $(jq -r .id "$T/telco.jsonl" "$T/bank.jsonl"); do
  "$ct" job show --json "$id" >"$T/h.json"
  accepted=$(jq '[.attempts[] | select(.outcome == "accepted")] | length' "$T/h.json")
  parts=$(jq '.receipt.parts | length' "$T/h.json")
  [ "$accepted" = "$parts" ] || mismatch=$((mismatch + 1))
done
expect_eq "jobs whose history lacks an accepted part" 0 "$mismatch"

# check_pdf FILE PASSWORD JOB_JSON WHAT: the PDF is locked with PASSWORD (AES-256, revision 6),
# opens with it and with nothing else, and shows the job's invoice number and amount.
check_pdf() {
  local f=$1 pw=$2 job=$3 what=$4 number amount
  number=$(jq -r .invoice.number <<<"$job")
  amount=$(jq -r '.invoice.amount_cents' <<<"$job" | awk '{ c = $1 % 100; r = int($1 / 100); s = sprintf("%d", r); out = ""; while (length(s) > 3) { out = "." substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) } printf "R$ %s%s,%02d\n", s, out, c }')
  expect_eq "$what: opens with the password" 0 "$(qpdf --password="$pw" --check "$f" >/dev/null 2>&1; echo $?)"
  expect_eq "$what: refused without a password" 2 "$(qpdf --check "$f" >/dev/null 2>&1; echo $?)"
  expect_eq "$what: refused with a wrong password" 2 "$(qpdf --password=0000x --check "$f" >/dev/null 2>&1; echo $?)"
  expect_eq "$what: AES-256, revision 6" "R = 6" "$(qpdf --password="$pw" --show-encryption "$f" | grep -o 'R = 6')"
  expect_eq "$what: encryption method" "AESv3" "$(qpdf --password="$pw" --show-encryption "$f" | awk '/stream encryption method/ { print $NF }')"
  expect_eq "$what: modification forbidden" "modify other: not allowed" \
    "$(qpdf --password="$pw" --show-encryption "$f" | grep -o 'modify other: not allowed')"
  expect_eq "$what: pdfinfo sees it encrypted" yes \
    "$(pdfinfo -upw "$pw" "$f" | awk '/^Encrypted:/ { print $2 }')"
  expect_eq "$what: pdfinfo refuses without password" 1 "$(pdfinfo "$f" >/dev/null 2>&1; echo $?)"
  pdftotext -upw "$pw" "$f" "$T/text.txt"
  expect_eq "$what: shows the invoice number" 1 "$(grep -cF -- "$number" "$T/text.txt" | awk '{ print ($1 > 0) }')"
  expect_eq "$what: shows the amount $amount" 1 "$(grep -cF -- "$amount" "$T/text.txt" | awk '{ print ($1 > 0) }')"
}

# A telco job: the WhatsApp upload (part 0) carried the PDF; locked with the CPF's first 4.
job=$(sed -n 3p "$T/telco.jsonl")
id=$(jq -r .id <<<"$job")
cpf=$(jq -r .recipient.cpf <<<"$job")
"$ct" job show --json "$id" >"$T/show.json"
media=$(jq -r '.receipt.parts[] | select(.channel == "whatsapp" and (.part // 0) == 0) | .message_id' "$T/show.json")
sha=$(jq -r '.receipt.parts[] | select(.channel == "whatsapp" and (.part // 0) == 0) | .document_sha256' "$T/show.json")
expect_eq "telco receipt: 3 WhatsApp parts" "0 1 2" \
  "$(jq -r '[.receipt.parts[] | select(.channel == "whatsapp") | (.part // 0)] | sort | map(tostring) | join(" ")' "$T/show.json")"
curl -sS --max-time 10 --cacert "$T/ca/ca.crt" -H "Authorization: Bearer $WA_TOKEN" \
  -o "$T/wa.pdf" "$base/media-download/$media"
expect_eq "receipt hash = SHA-256 of what WhatsApp received" "$sha" "$(sha256sum "$T/wa.pdf" | cut -d' ' -f1)"
expect_eq "mock's own hash agrees" "$sha" "$(curl -sS --max-time 10 --cacert "$T/ca/ca.crt" \
  -H "Authorization: Bearer $WA_TOKEN" "$base/v24.0/$media" | jq -r .sha256)"
check_pdf "$T/wa.pdf" "${cpf:0:4}" "$job" "whatsapp PDF"
expect_eq "the file is not the unprotected original" false \
  "$(cmp -s "$T/wa.pdf" "$T/docs/$(jq -r .invoice.document.path <<<"$job")" && echo true || echo false)"

# A bank job: the e-mail attachment; locked with the card's last 4.
job=$(sed -n 2p "$T/bank.jsonl")
id=$(jq -r .id <<<"$job")
card=$(jq -r .recipient.card_last4 <<<"$job")
"$ct" job show --json "$id" --reveal >"$T/show.json"
msg=$(jq -r '.receipt.parts[] | select(.channel == "email") | .message_id' "$T/show.json")
sha=$(jq -r '.receipt.parts[] | select(.channel == "email") | .document_sha256' "$T/show.json")
curl -sS --max-time 10 --cacert "$T/ca/ca.crt" -o "$T/mail.pdf" "$base/attachments/$msg/0"
expect_eq "receipt hash = SHA-256 of the attachment" "$sha" "$(sha256sum "$T/mail.pdf" | cut -d' ' -f1)"
check_pdf "$T/mail.pdf" "$card" "$job" "e-mail PDF"
expect_eq "the SMS part carries no document" "" \
  "$(jq -r '.receipt.parts[] | select(.channel == "sms") | .document_sha256 // ""' "$T/show.json")"

# Phase 2: one protection per job. Invoices that go on WhatsApp and then by e-mail, with a
# recipient gap longer than a worker parks a task: the upload, the template and the barcode
# line each come in their own lease, and the e-mail in the last one. The PDF is protected
# once, in the first lease, and the e-mail attaches the same bytes: one miss and one hit per
# job in the document cache, equal hashes in the receipt, identical files at the mock.
stop_mock
start_mock
rm -f "$T"/spool.db*
printf 'metrics-token-synthetic\n' >"$T/http.token"
LOG_LEVEL=info WA_GAP=1500ms write_config "document_root = $T/docs
http_listen = 127.0.0.1:0
http_token_file = $T/http.token"
n_both=6
"$gen" --count $n_both --seed 63 --profile telco --channels whatsapp+email --start-id 200 \
  --pdf dir="$T/docs" --format jsonl --out "$T/both.jsonl"
"$ct" enqueue --quiet "$T/both.jsonl"
start_ct
listening() { grep -q 'http: listening on 127.0.0.1:' "$T/run.log"; }
wait_until 10 listening || fail "no 'http: listening' line"
port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
all_delivered() { [ "$(spool_stat .delivered)" = $n_both ]; }
wait_until 60 all_delivered || fail "the WhatsApp + e-mail invoices were not delivered within 60 s"
curl -sS --max-time 10 "http://127.0.0.1:$port/metrics" >"$T/metrics"
stop_ct
expect_eq "carteiro stopped cleanly" 0 "$ct_status"
metric() { awk -v m="$1" '$1 == m { print $2 }' "$T/metrics"; }
expect_eq "cache: one preparation per job" $n_both "$(metric carteiro_document_cache_misses_total)"
expect_eq "cache: the e-mail reuses it" $n_both "$(metric carteiro_document_cache_hits_total)"
expect_eq "cache: nothing evicted for room" 0 "$(metric 'carteiro_document_cache_evictions_total{reason="cap"}')"
expect_eq "cache: nothing expired" 0 "$(metric 'carteiro_document_cache_evictions_total{reason="age"}')"
expect_eq "cache: emptied as the jobs were delivered" "0 0" \
  "$(metric carteiro_document_cache_entries) $(metric carteiro_document_cache_bytes)"
expect_eq "cache: the default cap" $((64 << 20)) "$(metric carteiro_document_cache_capacity_bytes)"
expect_eq "one upload per job" $n_both "$(mock_stat .endpoints.whatsapp_media.outcomes.ok)"
expect_eq "one e-mail per job" $n_both "$(mock_stat .endpoints.sendgrid_mail.outcomes.ok)"
same=0
for id in $(jq -r .id "$T/both.jsonl"); do
  "$ct" job show --json "$id" --reveal >"$T/show.json"
  wa_sha=$(jq -r '.receipt.parts[] | select(.channel == "whatsapp" and (.part // 0) == 0) | .document_sha256' "$T/show.json")
  mail_sha=$(jq -r '.receipt.parts[] | select(.channel == "email") | .document_sha256' "$T/show.json")
  [ -n "$wa_sha" ] && [ "$wa_sha" = "$mail_sha" ] && same=$((same + 1))
done
expect_eq "jobs whose WhatsApp and e-mail receipts carry the same document hash" $n_both "$same"
# The last job's files as each provider received them: byte for byte the same, and locked.
job=$(tail -n 1 "$T/both.jsonl")
cpf=$(jq -r .recipient.cpf <<<"$job")
media=$(jq -r '.receipt.parts[] | select(.channel == "whatsapp" and (.part // 0) == 0) | .message_id' "$T/show.json")
msg=$(jq -r '.receipt.parts[] | select(.channel == "email") | .message_id' "$T/show.json")
curl -sS --max-time 10 --cacert "$T/ca/ca.crt" -H "Authorization: Bearer $WA_TOKEN" \
  -o "$T/both-wa.pdf" "$base/media-download/$media"
curl -sS --max-time 10 --cacert "$T/ca/ca.crt" -o "$T/both-mail.pdf" "$base/attachments/$msg/0"
expect_eq "WhatsApp and e-mail received the same bytes" same \
  "$(cmp -s "$T/both-wa.pdf" "$T/both-mail.pdf" && echo same || echo different)"
expect_eq "receipt hash = SHA-256 of both files" "$wa_sha" "$(sha256sum "$T/both-mail.pdf" | cut -d' ' -f1)"
check_pdf "$T/both-mail.pdf" "${cpf:0:4}" "$job" "cached PDF"

# Phase 3: documents that must not go out.
stop_mock
start_mock
rm -f "$T"/spool.db*
# The URL documents come from servers on 127.0.0.1: tenant tim allows that network (without
# it they would be refused as loopback; delivery_document_url.sh tests that).
REQUEST_TIMEOUT=5s MAX_ATTEMPTS=2 write_config "document_root = $T/docs
document_fetch_timeout = 1s
[tenant.tim]
document_url_allow_networks = 127.0.0.1/32"
base_job=$(sed -n 1p "$T/telco.jsonl")
mkjob() { jq -c --arg id "$1" ".id = \$id | .deliveries = [[\"whatsapp\"]] | $2" <<<"$base_job"; }
ln -s /etc/hostname "$T/docs/escape.pdf"
printf 'not a pdf at all\n' >"$T/docs/text.pdf"
src_pdf="$T/docs/$(jq -r .invoice.document.path <<<"$base_job")"
qpdf --encrypt user owner 256 -- "$src_pdf" "$T/docs/locked.pdf"
# An oversized answer: a 21 MB attachment the mock serves back without authentication.
head -c $((21 * 1000 * 1000)) /dev/zero | tr '\0' 'x' >"$T/big.bin"
printf '{"personalizations":[{"to":[{"email":"big@example.com"}]}],"from":{"email":"f@example.com"},"subject":"big","content":[{"type":"text/plain","value":"x"}],"attachments":[{"content":"%s","filename":"big.pdf","type":"application/pdf"}]}' \
  "$(base64 -w0 "$T/big.bin")" >"$T/big.json"
big_id=$(curl -sS --max-time 30 --cacert "$T/ca/ca.crt" -D - -o /dev/null -H "Authorization: Bearer $SG_KEY" \
  -H 'content-type: application/json' --data-binary @"$T/big.json" "$base/v3/mail/send" |
  tr -d '\r' | awk 'tolower($1) == "x-message-id:" { print $2 }')
# A URL that never answers: a TLS server that accepts and then says nothing (its input is a
# FIFO this script holds open and never writes to).
mkfifo "$T/silent.in"
exec 7<>"$T/silent.in"
silent_port=""
for p in $(shuf -i 20000-60000 -n 20); do
  openssl s_server -accept "127.0.0.1:$p" -cert "$T/ca/server.crt" \
    -key "$T/ca/server.key" -quiet <"$T/silent.in" >/dev/null 2>&1 &
  silent_pid=$!
  sleep 0.3
  if kill -0 "$silent_pid" 2>/dev/null; then silent_port=$p; break; fi
done
[ -n "$silent_port" ] || { echo "FAIL: could not start a silent TLS server" >&2; exit 1; }
trap 'kill "$silent_pid" 2>/dev/null || true; stop_all' EXIT
{
  mkjob bad-escape '.invoice.document = {"path": "escape.pdf", "password_policy": "cpf_first4"}'
  mkjob bad-text '.invoice.document = {"path": "text.pdf", "password_policy": "cpf_first4"}'
  mkjob bad-locked '.invoice.document = {"path": "locked.pdf", "password_policy": "cpf_first4"}'
  mkjob bad-missing '.invoice.document = {"path": "nowhere/none.pdf", "password_policy": "cpf_first4"}'
  mkjob bad-big ".invoice.document = {\"url\": \"$base/attachments/$big_id/0\", \"password_policy\": \"cpf_first4\"}"
  mkjob bad-silent ".invoice.document = {\"url\": \"https://127.0.0.1:$silent_port/fatura.pdf\", \"password_policy\": \"cpf_first4\"}"
  mkjob bad-nocard '.invoice.document.password_policy = "card_last4" | del(.recipient.card_last4)'
} >"$T/bad.jsonl"
"$ct" enqueue "$T/bad.jsonl" >"$T/out" 2>"$T/err" || true
expect_line "enqueue: a document without what its policy needs is refused" "$T/err" \
  "carteiro enqueue: $T/bad.jsonl:7: recipient.card_last4: required by password policy card_last4"
printf '%s\n' "$(mkjob bad-dotdot '.invoice.document.path = "../etc/passwd"')" >"$T/dotdot.jsonl"
expect_status "enqueue: a path with .. is refused" 65 "$ct" enqueue "$T/dotdot.jsonl"
run_drain 120
expect_eq "nothing delivered" 0 "$(report .delivered)"
expect_eq "no WhatsApp message or upload" 0 \
  "$(mock_stat '.endpoints.whatsapp_messages.requests + .endpoints.whatsapp_media.requests')"
reason() { "$ct" job show --json "$1" | jq -r .reason; }
last_code() { "$ct" job show --json "$1" | jq -r '.attempts[-1].error_code'; }
expect_eq "symlink out of the root" document_path_refused "$(reason bad-escape)"
expect_eq "not a PDF" document_not_pdf "$(reason bad-text)"
expect_eq "already encrypted" document_encrypted "$(reason bad-locked)"
expect_eq "missing file" document_not_found "$(reason bad-missing)"
expect_eq "oversized URL answer" document_too_large "$(reason bad-big)"
expect_eq "URL that never answers: retried, then given up" max_attempts "$(reason bad-silent)"
expect_eq "URL that never answers: why" document_fetch_failed "$(last_code bad-silent)"
expect_eq "URL that never answers: timeout named" 1 \
  "$("$ct" job show --json bad-silent | jq -r '.attempts[-1].message' | grep -c 'timeout')"
expect_eq "dead by reason" 6 "$("$ct" spool stats --json | jq -r .dead)"
kill "$silent_pid" 2>/dev/null || true
exec 7>&-

finish
