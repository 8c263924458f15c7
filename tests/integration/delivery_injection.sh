#!/usr/bin/env bash
# Hostile text in a recipient's name and a notification's parameters ('"}]}<script>', CR/LF,
# '&To=...&Body=...') arrives at each provider as data, never as structure: the mock, which
# parses requests as strictly as the real APIs, accepts every message, and the To, Body,
# subject and template parameters it decoded are exactly the texts carteiro meant (WhatsApp
# and e-mail headers with control characters turned into spaces, as their APIs require).
# The injected number receives nothing, and no log line carries the name in clear.
# usage: delivery_injection.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"

evil=$'Ana "}]}<script>alert(1)</script>\r\nBcc: x@evil.example\r\n&To=+5511999999999&Body=pwned&'
# What a WhatsApp parameter carries: a run of control characters and spaces as one space;
# an e-mail header: each control character as a space.
flat='Ana "}]}<script>alert(1)</script> Bcc: x@evil.example &To=+5511999999999&Body=pwned&'
header='Ana "}]}<script>alert(1)</script>  Bcc: x@evil.example  &To=+5511999999999&Body=pwned&'

start_mock
write_config "log_level = info"
# The subject carries the name too, so that the e-mail's header is checked as well.
cat >>"$T/carteiro.ini" <<'INI'

[templates.pt-BR]
sms_invoice = {name}, sua fatura {number} vence em {due_date}.
email_subject = Fatura de {name}
email_text = Olá, {name}.
email_html = <p>Olá, {name}.</p>
INI
export CARTEIRO_SPOOL=$T/spool.db

"$gen" --count 1 --seed 81 --profile bank --format jsonl --out "$T/bank.raw"
"$gen" --count 1 --seed 82 --start-id 10 --profile telco --channels whatsapp --format jsonl \
  --out "$T/telco.raw"
jq -c --arg n "$evil" '.recipient.name = $n' "$T/bank.raw" >"$T/jobs.jsonl"
jq -c --arg n "$evil" '.recipient.name = $n' "$T/telco.raw" >>"$T/jobs.jsonl"
# A notification whose parameters are the hostile text, by WhatsApp.
jq -c --arg n "$evil" '{id: "ntf-evil", tenant: .tenant, kind: "notification",
    recipient: {phone: .recipient.phone}, deliveries: [["whatsapp"]],
    notification: {template_name: "aviso", params: {"1": $n, "2": "ok"}}}' \
  "$T/telco.raw" >>"$T/jobs.jsonl"
expect_status "enqueue" 0 "$ct" enqueue --quiet "$T/jobs.jsonl"

start_ct --drain --report
wait_ct 60
expect_eq "carteiro run --drain exit status" 0 "$ct_status"
expect_eq "every message delivered" 3 "$(spool_stat .delivered)"

mock_get "/received?limit=100" >"$T/received.json"
expect_eq "the mock accepted every request" "" \
  "$(jq -r '.records[] | select(.outcome != "ok") | "\(.endpoint) \(.outcome)"' "$T/received.json")"

bank_phone=$(jq -r .recipient.phone "$T/bank.raw" | tr -d +)
bank_email=$(jq -r .recipient.email "$T/bank.raw")
telco_phone=$(jq -r .recipient.phone "$T/telco.raw" | tr -d +)
number=$(jq -r .invoice.number "$T/bank.raw")
due=$(jq -r '.invoice.due_date | split("-") | "\(.[2])/\(.[1])/\(.[0])"' "$T/bank.raw")

# SMS: a form body; the mock decoded one To and one Body, exactly the rendered text.
sms=$(jq -c '[.records[] | select(.endpoint == "twilio_messages")]' "$T/received.json")
expect_eq "one SMS" 1 "$(jq length <<<"$sms")"
expect_eq "SMS To is the recipient, not the injected number" "+$bank_phone" "$(jq -r '.[0].detail.To' <<<"$sms")"
expect_eq "SMS Body is the whole text, name included" "$evil, sua fatura $number vence em $due." \
  "$(jq -r '.[0].detail.Body' <<<"$sms")"
expect_eq "nothing went to the injected number" 0 \
  "$(jq '[.records[] | select(.recipient == "5511999999999")] | length' "$T/received.json")"

# E-mail: JSON; the subject is a header, so its CR/LF became spaces and no Bcc appeared.
mail=$(jq -c '[.records[] | select(.endpoint == "sendgrid_mail")]' "$T/received.json")
expect_eq "one e-mail" 1 "$(jq length <<<"$mail")"
expect_eq "e-mail to the recipient" "$bank_email" "$(jq -r '.[0].detail.to' <<<"$mail")"
expect_eq "e-mail subject" "Fatura de $header" "$(jq -r '.[0].detail.subject' <<<"$mail")"
expect_eq "one personalization" 1 "$(jq -r '.[0].detail.personalizations' <<<"$mail")"

# WhatsApp: JSON; the name and the notification parameter are one text parameter each.
wa=$(jq -c '[.records[] | select(.endpoint == "whatsapp_messages")]' "$T/received.json")
expect_eq "WhatsApp messages: invoice, barcode, notification" 3 "$(jq length <<<"$wa")"
expect_eq "WhatsApp to the recipient only" "$telco_phone" "$(jq -r '[.[].recipient] | unique | join(",")' <<<"$wa")"
# the record's detail is the request body as sent, a JSON document of its own
params() { jq -r ".[] | .detail | if type == \"string\" then fromjson else . end
  | select(.template.name == \"$1\") | .template.components[] | select(.type == \"body\")
  | .parameters[0].text" <<<"$wa"; }
expect_eq "invoice template: the name, one parameter" "$flat" "$(params fatura_disponivel)"
expect_eq "notification template: the parameter" "$flat" "$(params aviso)"

# The name is personal data: it is in no log line, in clear or in part.
expect_no_match "no name in the daemon's log" "$T/run.log" "script"
expect_no_match "no injected number in the daemon's log" "$T/run.log" "5511999999999"
finish
