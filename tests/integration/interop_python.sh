#!/usr/bin/env bash
# A producer in another language: jobs built in Python with the classes protoc generates from
# proto/ (at test time, in the test's temp dir) are posted to a running daemon as one Job, as a
# length-delimited batch, and as a zstd-compressed one; each is accepted (202, exact per-record
# results), GET /v1/jobs/{id} shows the fields Python set (personal data masked), and the mock
# providers receive every message.
# usage: interop_python.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA PROTO_DIR
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 proto_dir=$5
. "$(dirname "$0")/engine.sh"
py=/usr/bin/python3
n=8

mkdir "$T/py"
protoc -I "$proto_dir" --python_out="$T/py" "$proto_dir/carteiro/v1/job.proto"
expect_eq "generated Python classes" 1 "$([ -s "$T/py/carteiro/v1/job_pb2.py" ] && echo 1)"
"$py" "$(dirname "$0")/interop_enqueue.py" "$T/py" "$T" "$n"
expect_eq "expected jobs" "$n" "$(wc -l <"$T/expected.jsonl")"
ids() { jq -r .id "$T/expected.jsonl" | sed -n "$1p" | xargs; }
# accepted_results FIRST LAST: the results a batch of jobs FIRST..LAST must get
accepted_results() {
  jq -r -s --argjson a "$1" --argjson b "$2" \
    '[.[$a - 1:$b] | to_entries[] | "\(.key) accepted \(.value.id)"] | join(",")' "$T/expected.jsonl"
}

start_mock
printf 'ingest-token-synthetic\n' >"$T/http.token"
LOG_LEVEL=info write_config "http_listen = 127.0.0.1:0
http_token_file = $T/http.token"
export CARTEIRO_SPOOL=$T/spool.db
start_ct
listening() { grep -q 'http: listening on 127.0.0.1:' "$T/run.log"; }
wait_until 30 listening || { fail "no 'http: listening' line"; sed 's/^/  run: /' "$T/run.log" >&2; }
api=http://127.0.0.1:$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
post() {
  curl -s -o "$T/body" -w '%{http_code}' --max-time 10 -X POST \
    -H "Authorization: Bearer ingest-token-synthetic" -H 'Content-Type: application/x-protobuf' \
    "$@" "$api/v1/jobs"
}

half=$((1 + (n - 1) / 2))
expect_eq "one Job: 202" 202 "$(post --data-binary @"$T/one.pb")"
expect_eq "one Job: results" "0 accepted $(ids 1)" \
  "$(jq -r '[.results[] | "\(.index) \(.result) \(.id)"] | join(",")' "$T/body")"
expect_eq "one Job: counts" "1 0 0 []" "$(jq -c -r '"\(.accepted) \(.duplicates) \(.rejected) \(.errors)"' "$T/body")"

expect_eq "delimited batch: 202" 202 \
  "$(post -H 'X-Carteiro-Batch: delimited' --data-binary @"$T/batch.pbs")"
expect_eq "delimited batch: results" "$(accepted_results 2 "$half")" \
  "$(jq -r '[.results[] | "\(.index) \(.result) \(.id)"] | join(",")' "$T/body")"
expect_eq "delimited batch: counts" "$((half - 1)) 0 0 []" \
  "$(jq -c -r '"\(.accepted) \(.duplicates) \(.rejected) \(.errors)"' "$T/body")"

zstd -q -c "$T/batch2.pbs" >"$T/batch2.pbs.zst"
expect_eq "zstd batch: 202" 202 "$(post -H 'X-Carteiro-Batch: delimited' \
  -H 'Content-Encoding: zstd' --data-binary @"$T/batch2.pbs.zst")"
expect_eq "zstd batch: results" "$(accepted_results $((half + 1)) "$n")" \
  "$(jq -r '[.results[] | "\(.index) \(.result) \(.id)"] | join(",")' "$T/body")"
expect_eq "zstd batch: counts" "$((n - half)) 0 0 []" \
  "$(jq -c -r '"\(.accepted) \(.duplicates) \(.rejected) \(.errors)"' "$T/body")"

expect_eq "posted again: all duplicates" "0 $((half - 1)) 0" "$(post -H 'X-Carteiro-Batch: delimited' \
  --data-binary @"$T/batch.pbs" >/dev/null; jq -r '"\(.accepted) \(.duplicates) \(.rejected)"' "$T/body")"

# Every job is delivered: one e-mail and one SMS each, to the recipients Python chose.
delivered() { [ "$(spool_stat .delivered)" = "$n" ]; }
wait_until 60 delivered || fail "the Python jobs were not delivered within 60 s ($(spool_stat .delivered) of $n)"
expect_eq "e-mails at the mock" "$n" "$(mock_stat .endpoints.sendgrid_mail.outcomes.ok)"
expect_eq "SMS at the mock" "$n" "$(mock_stat .endpoints.twilio_messages.outcomes.ok)"
expect_eq "nothing sent twice" 0 "$(mock_stat .total.duplicates)"
expect_eq "SMS recipients are Python's" "$(jq -r '.clear[2]' "$T/expected.jsonl" | sort | xargs)" \
  "$(received_recipients twilio_messages ok | xargs)"

# GET /v1/jobs/{id}: the fields Python set, personal data masked, the clear values nowhere.
fields='{tenant: .job.tenant, kind: .job.kind,
         channels: ([.job.deliveries[] | (.channels // .) | join(",")] | join(";")),
         not_after_ms: .job.not_after_ms, priority: .job.priority,
         number: .job.invoice.number, amount_cents: .job.invoice.amount_cents,
         currency: .job.invoice.currency, due_date: .job.invoice.due_date,
         barcode_line: .job.invoice.barcode_line,
         locale: .job.recipient.locale, time_zone: .job.recipient.time_zone}'
masked='{name: .job.recipient.name, cpf: .job.recipient.cpf, phone: .job.recipient.phone,
         email: .job.recipient.email}'
# Per job, one jq run for what Python expects (id, fields, masked, then the clear values) and
# one for what the API answered (state, fields, masked): jq takes a tenth of a second to start
# on a loaded machine.
while read -r line; do
  mapfile -t want < <(jq -r -c -S '.id, .fields, .masked, .clear[]' <<<"$line")
  id=${want[0]}
  got=$(curl -s -o "$T/job.json" -w '%{http_code}' --max-time 10 \
    -H "Authorization: Bearer ingest-token-synthetic" "$api/v1/jobs/$id")
  expect_eq "$id: GET 200" 200 "$got"
  mapfile -t have < <(jq -r -c -S ".state, ($fields), ($masked)" "$T/job.json")
  expect_eq "$id: state" delivered "${have[0]:-}"
  expect_eq "$id: fields" "${want[1]}" "${have[1]:-}"
  expect_eq "$id: masked" "${want[2]}" "${have[2]:-}"
  # Each word of each clear value, looked for anywhere in the answer.
  # shellcheck disable=SC2086 # split into words on purpose
  printf '%s\n' ${want[@]:3} | grep -v '^$' >"$T/clear.txt" || true
  checks=$((checks + $(wc -l <"$T/clear.txt")))
  if [ -s "$T/clear.txt" ] && grep -qF -f "$T/clear.txt" "$T/job.json"; then
    fail "$id: a clear personal value is in GET /v1/jobs"
  fi
done <"$T/expected.jsonl"

stop_ct 20
expect_eq "exit status on SIGTERM" 0 "$ct_status"
finish
