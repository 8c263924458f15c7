#!/usr/bin/env bash
# carteiro enqueue end to end: formats, idempotency, per-record errors, --all-or-nothing,
# truncated and hostile input, stdin, and masked job output.
# usage: cli_enqueue.sh CARTEIRO GEN_INVOICES SPOOL_FIXTURE
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2
export CARTEIRO_SPOOL="$T/spool.db"

stat_of() { "$ct" spool stats --json | jq -r ".$1"; }

# 1. JSON lines, then the same file again: nothing stored twice.
"$gen" --count 50 --seed 3 --format jsonl --out "$T/a.jsonl"
expect_status "enqueue jsonl" 0 "$ct" enqueue "$T/a.jsonl"
expect_line "enqueue jsonl summary" "$T/out" "$T/a.jsonl: 50 records: 50 enqueued, 0 duplicates, 0 rejected"
expect_eq "ready after first import" 50 "$(stat_of ready)"
expect_status "enqueue same file" 0 "$ct" enqueue "$T/a.jsonl"
expect_line "duplicates reported" "$T/out" "$T/a.jsonl: 50 records: 0 enqueued, 50 duplicates, 0 rejected"
expect_eq "ready after re-import" 50 "$(stat_of ready)"

# 2. Compressed protobuf, and JSON output for scripts.
"$gen" --count 120 --seed 4 --start-id 1000 --format pbs --zstd --out "$T/b.pbs.zst"
expect_status "enqueue pbs.zst" 0 "$ct" enqueue --json --batch 7 "$T/b.pbs.zst"
expect_eq "json enqueued" 120 "$(jq -r '.files[0].enqueued' "$T/out")"
expect_eq "json rejected" 0 "$(jq -r '.files[0].rejected' "$T/out")"
expect_eq "ready after pbs import" 170 "$(stat_of ready)"

# 3. Standard input.
"$gen" --count 10 --seed 5 --start-id 5000 --format jsonl --out - >"$T/c.jsonl"
expect_status "enqueue stdin" 0 sh -c "\"$ct\" enqueue - <\"$T/c.jsonl\""
expect_line "stdin summary" "$T/out" "-: 10 records: 10 enqueued, 0 duplicates, 0 rejected"

# 4. A file of good and bad records: each bad one named, the good ones stored.
"$gen" --count 3 --seed 6 --start-id 7000 --format jsonl --out "$T/good3.jsonl"
{
  sed -n 1p "$T/good3.jsonl"
  # a CPF whose last check digit is off by one
  sed -n 2p "$T/good3.jsonl" | jq -c '.recipient.cpf |= (.[0:10] + ((((.[10:11] | tonumber) + 1) % 10) | tostring))'
  echo '["not", "an", "object"]'
  printf '{"id":"bad-\xff\xfe","tenant":"tim"}\n'
  sed -n 3p "$T/good3.jsonl" | jq -c '.recipient.fone = .recipient.phone'
  echo '{"id": "trailing-comma",}'
} >"$T/bad.jsonl"
expect_status "mixed file" 65 "$ct" enqueue "$T/bad.jsonl"
expect_line "mixed summary" "$T/out" "$T/bad.jsonl: 6 records: 1 enqueued, 0 duplicates, 5 rejected"
expect_line "bad cpf named" "$T/err" "carteiro enqueue: $T/bad.jsonl:2: recipient.cpf: check digits do not match"
expect_line "not an object named" "$T/err" "carteiro enqueue: $T/bad.jsonl:3: line is not a JSON object"
expect_line "unknown field named" "$T/err" "carteiro enqueue: $T/bad.jsonl:5: recipient.fone: unknown field"
expect_eq "invalid utf-8 named" 1 "$(grep -c "^carteiro enqueue: $T/bad.jsonl:4: " "$T/err")"
expect_eq "syntax error named" 1 "$(grep -c "^carteiro enqueue: $T/bad.jsonl:6: " "$T/err")"
expect_eq "ready after mixed file" 181 "$(stat_of ready)"

# 5. --all-or-nothing: the same kind of file stores nothing.
sed 's/"id":"/"id":"aon-/' "$T/bad.jsonl" >"$T/aon.jsonl"
expect_status "all-or-nothing" 65 "$ct" enqueue --all-or-nothing --json "$T/aon.jsonl"
expect_eq "aon enqueued" 0 "$(jq -r '.files[0].enqueued' "$T/out")"
expect_eq "aon rejected" 5 "$(jq -r '.files[0].rejected' "$T/out")"
expect_eq "aon file_rejected" true "$(jq -r '.files[0].file_rejected' "$T/out")"
expect_eq "ready after all-or-nothing" 181 "$(stat_of ready)"
"$gen" --count 5 --seed 9 --start-id 9000 --format jsonl --out - >"$T/good5.jsonl"
expect_status "all-or-nothing clean stdin" 0 sh -c "\"$ct\" enqueue --all-or-nothing - <\"$T/good5.jsonl\""
expect_line "aon stdin summary" "$T/out" "-: 5 records: 5 enqueued, 0 duplicates, 0 rejected"

# 6. A truncated protobuf file: the complete records go in, the cut one is named.
"$gen" --count 4 --seed 10 --start-id 9500 --format pbs --out "$T/t.pbs"
size=$(stat -c %s "$T/t.pbs")
head -c $((size - 5)) "$T/t.pbs" >"$T/trunc.pbs"
expect_status "truncated pbs" 65 "$ct" enqueue "$T/trunc.pbs"
expect_line "truncated summary" "$T/out" "$T/trunc.pbs: 3 records: 3 enqueued, 0 duplicates, 1 rejected (file not read to the end)"
expect_line "truncated named" "$T/err" "carteiro enqueue: $T/trunc.pbs:4: input ends inside this record (truncated file)"

# 7. Garbage in a .pbs: named, no crash.
head -c 4096 /dev/urandom >"$T/noise.pbs"
got=0; "$ct" enqueue "$T/noise.pbs" >"$T/out" 2>"$T/err" || got=$?
expect_eq "noise exit status" 65 "$got"

# 8. A huge field: a 20 MiB line is refused by size, the next line still read.
{
  printf '{"id":"huge","tenant":"tim","recipient":{"name":"'
  head -c $((20 * 1024 * 1024)) /dev/zero | tr '\0' 'a'
  printf '"}}\n'
  sed -n 1p "$T/good5.jsonl" | jq -c '.id = "after-huge"'
} >"$T/huge.jsonl"
expect_status "huge record" 65 "$ct" enqueue "$T/huge.jsonl"
expect_line "huge summary" "$T/out" "$T/huge.jsonl: 2 records: 1 enqueued, 0 duplicates, 1 rejected"
expect_line "huge named" "$T/err" "carteiro enqueue: $T/huge.jsonl:1: record is larger than 16 MiB"

# 9. Missing file and bad usage.
expect_status "missing file" 66 "$ct" enqueue "$T/nope.jsonl"
expect_status "no file" 64 "$ct" enqueue
expect_status "bad format" 64 "$ct" enqueue --format xml "$T/a.jsonl"
expect_status "unknown command" 64 "$ct" frobnicate

# 10. job show masks personal data unless --reveal.
id=$(sed -n 1p "$T/a.jsonl" | jq -r .id)
cpf=$(sed -n 1p "$T/a.jsonl" | jq -r .recipient.cpf)
phone=$(sed -n 1p "$T/a.jsonl" | jq -r .recipient.phone)
expect_status "job show" 0 "$ct" job show "$id"
expect_line "job show state" "$T/out" "state      ready"
expect_no_match "cpf masked" "$T/out" "$cpf"
expect_no_match "phone masked" "$T/out" "$phone"
expect_eq "masked cpf shown" 1 "$(grep -c "\"cpf\": \"\*\*\*\.\*\*\*\.\*\*\*-${cpf:9:2}\"" "$T/out")"
expect_status "job show --json --reveal" 0 "$ct" job show --json --reveal "$id"
expect_eq "revealed cpf" "$cpf" "$(jq -r .job.recipient.cpf "$T/out")"
expect_status "job show unknown" 66 "$ct" job show no-such-job

# 11. Error texts name the field and the rule, never the input: a byte that is not UTF-8
# right after a CPF or a phone number (jansson's own message quotes the text before it).
line=$(sed -n 2p "$T/a.jsonl")
cpf2=$(jq -r .recipient.cpf <<<"$line")
phone2=$(jq -r .recipient.phone <<<"$line")
{
  printf '%s\n' "$line" | sed "s/\"$cpf2\"/\"$cpf2\xff\"/"
  printf '%s\n' "$line" | sed "s/\"+$phone2\"/\"$phone2\xfe\"/; s/\"$phone2\"/\"$phone2\xfe\"/"
  printf '{"id":"k","recipient":{"%s":"x"}}\n' "$cpf2"
  printf '{"id":"k","notification":{"params":{"%s":1}}}\n' "$phone2"
} >"$T/pii.jsonl"
# jansson's column counts characters up to the last one it could read: the CPF's last digit
before_cpf=${line%%"$cpf2"*} before_phone=${line%%"$phone2"*}
col_cpf=$(LC_ALL=C.UTF-8; echo $(( ${#before_cpf} + ${#cpf2} )))
col_phone=$(LC_ALL=C.UTF-8; echo $(( ${#before_phone} + ${#phone2} )))
expect_status "pii in errors" 65 "$ct" enqueue "$T/pii.jsonl"
expect_line "cpf line: the rule and the column" "$T/err" \
  "carteiro enqueue: $T/pii.jsonl:1: not JSON: invalid UTF-8 at column $col_cpf"
expect_line "phone line: the rule and the column" "$T/err" \
  "carteiro enqueue: $T/pii.jsonl:2: not JSON: invalid UTF-8 at column $col_phone"
expect_line "a CPF as a key is not repeated" "$T/err" \
  "carteiro enqueue: $T/pii.jsonl:3: recipient: unknown field (its name is not shown: not a plain field name)"
expect_line "a phone as a map key is not repeated" "$T/err" \
  "carteiro enqueue: $T/pii.jsonl:4: notification.params[0]: expected a string"
expect_no_match "no CPF on stderr" "$T/err" "$cpf2"
expect_no_match "no phone on stderr" "$T/err" "${phone2#+}"
expect_status "pii in errors, --json" 65 "$ct" enqueue --json "$T/pii.jsonl"
expect_eq "--json reasons" "1 not JSON: invalid UTF-8 at column $col_cpf|2 not JSON: invalid UTF-8 at column $col_phone|3 recipient: unknown field (its name is not shown: not a plain field name)|4 notification.params[0]: expected a string" \
  "$(jq -r '[.files[0].errors[] | "\(.record) \(.reason)"] | join("|")' "$T/out")"
expect_no_match "no CPF in --json" "$T/out" "$cpf2"
expect_no_match "no phone in --json" "$T/out" "${phone2#+}"

# 12. job show masks where a document comes from: file names often carry a CPF, and URLs
# carry credentials and signed tokens.
jq -c --arg p "faturas/2026-12/$cpf2.pdf" '.id = "doc-path" | .invoice.document = {path: $p}' \
  <<<"$line" >"$T/doc.jsonl"
jq -c --arg u "https://billing:s3cret-pw@docs.example.com/f/$cpf2.pdf?sig=abc" \
  '.id = "doc-url" | .invoice.document = {url: $u}' <<<"$line" >>"$T/doc.jsonl"
expect_status "enqueue documents" 0 "$ct" enqueue "$T/doc.jsonl"
expect_status "job show path" 0 "$ct" job show doc-path
expect_line "path masked" "$T/out" '      "path": "***/***/***.pdf"'
expect_no_match "no CPF in the path" "$T/out" "$cpf2"
expect_status "job show url --json" 0 "$ct" job show --json doc-url
expect_eq "url masked" "https://***@docs.example.com/***" "$(jq -r .job.invoice.document.url "$T/out")"
expect_no_match "no password" "$T/out" "s3cret-pw"
expect_no_match "no CPF in the url" "$T/out" "$cpf2"
expect_status "dlq show path" 0 "$ct" dlq show --json doc-path
expect_eq "dlq show: path masked" "***/***/***.pdf" "$(jq -r .job.invoice.document.path "$T/out")"
expect_status "job show --reveal" 0 "$ct" job show --json --reveal doc-url
expect_eq "revealed url" "https://billing:s3cret-pw@docs.example.com/f/$cpf2.pdf?sig=abc" \
  "$(jq -r .job.invoice.document.url "$T/out")"

# 13. The spool file is private.
expect_eq "spool mode" 600 "$(stat -c %a "$CARTEIRO_SPOOL")"

finish
