#!/usr/bin/env bash
# carteiro status against a running daemon with a known state: jobs delivered on WhatsApp and
# e-mail, two dead by a permanent refusal and one past its deadline, two not due for an hour,
# and HTTP API results (accepted, duplicate, rejected). The JSON document and the screen carry
# exactly those figures; a wrong token exits 77, nothing listening 69, no status route 76, a
# configuration without a fixed port 78; --watch on a pipe prints a block a refresh until SIGINT.
# usage: cli_status.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"

# 6 telco jobs on WhatsApp only (the first two recipients refused for good: dead), 3 bank jobs
# by e-mail, 2 SMS jobs not due for an hour, 1 SMS job whose not_after has passed.
"$gen" --count 6 --seed 81 --profile telco --channels whatsapp --format jsonl --out "$T/wa.jsonl"
"$gen" --count 3 --seed 82 --start-id 101 --profile bank --channels email --format jsonl \
  --out "$T/mail.jsonl"
"$gen" --count 3 --seed 83 --start-id 201 --profile telco --channels sms --format jsonl \
  --out "$T/sms.raw"
t0=$(now_ms)
sed -n 1,2p "$T/sms.raw" | jq -c --argjson t $((t0 + 3600000)) '.not_before_ms = $t' >"$T/later.jsonl"
sed -n 3p "$T/sms.raw" | jq -c --argjson t $((t0 - 60000)) '.not_after_ms = $t' >"$T/late.jsonl"
rules=()
for r in $(jq -r .recipient.phone "$T/wa.jsonl" | sed -n 1,2p | tr -d +); do
  rules+=(--reject "whatsapp=exact:$r")
done
start_mock "${rules[@]}"
printf 'status-token-synthetic\n' >"$T/http.token"
printf 'not-the-token\n' >"$T/wrong.token"
SMS_RATE=5 LOG_LEVEL=info write_config "http_listen = 127.0.0.1:0
http_token_file = $T/http.token"
export CARTEIRO_SPOOL=$T/spool.db
"$ct" enqueue --quiet "$T/wa.jsonl" "$T/mail.jsonl" "$T/later.jsonl" "$T/late.jsonl"

# A configuration whose http_listen picks a free port cannot say where the daemon is.
expect_status "status --config with port 0" 78 "$ct" status --config "$T/carteiro.ini"
expect_eq "port 0 named" 1 "$(grep -c 'http_listen = 127.0.0.1:0 picks a free port' "$T/err")"

start_ct
listening() { grep -q 'http: listening on 127.0.0.1:' "$T/run.log"; }
wait_until 10 listening || { fail "no 'http: listening' line"; sed 's/^/  run: /' "$T/run.log" >&2; }
port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
api=http://127.0.0.1:$port
sed "s|^http_listen = .*|http_listen = 127.0.0.1:$port|" "$T/carteiro.ini" >"$T/status.ini"

# The HTTP API: one good bank job and one with a bad CPF, twice.
"$gen" --count 2 --seed 84 --start-id 301 --profile bank --channels email --format jsonl \
  --out "$T/api.raw"
bad_cpf='.recipient.cpf |= (.[0:10] + ((((.[10:11] | tonumber) + 1) % 10) | tostring))'
jq -s -c "[.[0], (.[1] | $bad_cpf)]" "$T/api.raw" >"$T/api.json"
for round in 1 2; do
  code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 10 -X POST \
    -H "Authorization: Bearer status-token-synthetic" -H 'content-type: application/json' \
    --data-binary @"$T/api.json" "$api/v1/jobs")
  expect_eq "POST round $round: 202" 202 "$code"
done

st() { "$ct" status --url "$api" --token-file "$T/http.token" --json >"$T/status.json"; }
settled() {
  st && [ "$(jq -c '[.spool.delivered, .spool.dead, .jobs.inflight]' "$T/status.json")" = '[8,3,0]' ]
}
wait_until 30 settled || fail "the daemon did not settle within 30 s: $(cat "$T/status.json")"
sj() { jq -c "$1" "$T/status.json"; }
expect_eq "spool by state" '{"ready":2,"due":0,"inflight":0,"delivered":8,"dead":3}' \
  "$(sj '.spool | {ready, due, inflight, delivered, dead}')"
expect_eq "oldest due age with nothing due" 0 "$(sj .spool.oldest_due_age_s)"
expect_eq "dead letters by reason" '{"deadline_exceeded":1,"permanent_failure":2}' \
  "$(sj '.spool.dead_by_reason | to_entries | sort_by(.key) | from_entries')"
expect_eq "jobs" '{"delivered":8,"dead":3,"max_inflight":500}' \
  "$(sj '.jobs | {delivered, dead, max_inflight}')"
expect_eq "enqueue results" '{"accepted":1,"duplicates":1,"rejected":2}' "$(sj .enqueue)"
expect_eq "providers" \
  '[["wa-tim","whatsapp",8,2,0,"closed",false],["sms","sms",0,0,0,"closed",false],["email","email",4,0,0,"closed",false]]' \
  "$(sj '[.providers[] | [.name, .channel, .accepted, .permanent, .inflight, .breaker, .paused]]')"
expect_eq "token bucket of sms" '[5,5]' "$(sj '.providers[1] | [.rate, .burst]')"
expect_eq "concurrency of wa-tim" '[400,400]' "$(sj '.providers[0] | [.concurrency_limit, .max_concurrency]')"
# 8 messages in the last minute: a rate above zero, and no more than 8 over the ring's span.
expect_eq "wa-tim messages per second over 1 min" true \
  "$(sj '.providers[0].messages_per_s["1m"] > 0 and .providers[0].messages_per_s["1m"] <= 8')"
expect_eq "sms messages per second" '{"10s":0,"1m":0}' "$(sj .providers[1].messages_per_s)"
expect_no_match "no CPF in the document" "$T/status.json" "$(jq -r .recipient.cpf "$T/api.raw" | head -1)"

# The screen, through the configuration as an operator would.
expect_status "status --config" 0 "$ct" status --config "$T/status.ini"
cp "$T/out" "$T/screen"
expect_line "screen: jobs" "$T/screen" \
  "jobs       delivered 8  retried 0  dead 3  released 0  in flight 0/500"
expect_line "screen: http api" "$T/screen" "http api   accepted 1  duplicates 1  rejected 2"
expect_line "screen: spool" "$T/screen" \
  "spool      ready 2 (0 due now, 2 not yet due)  in flight 0"
expect_line "screen: spool 2" "$T/screen" "           delivered 8 (receipts retained)  dead 3"
expect_line "screen: permanent_failure" "$T/screen" "$(printf '  %-30s %s' permanent_failure 2)"
expect_line "screen: deadline_exceeded" "$T/screen" "$(printf '  %-30s %s' deadline_exceeded 1)"
expect_eq "screen: wa-tim" "whatsapp 8 2 0 0/400 none closed no" \
  "$(awk '$1 == "wa-tim" { print $2, $5, $6, $7, $8, $9, $10, $11 }' "$T/screen")"
expect_eq "screen: sms" "sms 0 0 0 0/400 5/s burst 5 closed no" \
  "$(awk '$1 == "sms" { print $2, $5, $6, $7, $8, $9, $10, $11, $12, $13 }' "$T/screen")"
expect_eq "screen: header" 1 "$(grep -c "^carteiro status  $api/v1/status  " "$T/screen")"
expect_no_match "screen: no oldest due line" "$T/screen" "oldest due"

# --json through the configuration is the same document.
expect_status "status --config --json" 0 "$ct" status --config "$T/status.ini" --json
expect_eq "--json: enqueue" '{"accepted":1,"duplicates":1,"rejected":2}' "$(jq -c .enqueue "$T/out")"

# Errors.
expect_status "wrong token" 77 "$ct" status --url "$api" --token-file "$T/wrong.token"
expect_eq "wrong token named" \
  "carteiro status: the daemon at $api/v1/status refused the token (from --token-file $T/wrong.token)" \
  "$(cat "$T/err")"
expect_no_match "the token is not printed" "$T/err" "not-the-token"
expect_status "no status route" 76 "$ct" status --url "$api/v1/jobs/x" --token-file "$T/http.token"
expect_eq "no status route named" 1 "$(grep -c "malformed answer from $api/v1/jobs/x/v1/status: 404" "$T/err")"
expect_status "missing token file" 66 "$ct" status --url "$api" --token-file "$T/nope.token"
expect_status "bad --watch" 64 "$ct" status --url "$api" --token-file "$T/http.token" --watch=0
expect_eq "bad --watch named" \
  "carteiro status: --watch: '0' is not a number of seconds from 1 to 86400" "$(cat "$T/err")"
expect_status "unknown option" 64 "$ct" status --colour
expect_eq "unknown option named" 1 "$(grep -c -- "--colour" "$T/err")"

# --watch on a pipe: one block a refresh, ended by SIGINT with status 0. In sanitizer builds
# this one run goes without LeakSanitizer: its exit-time check stops every thread with ptrace,
# and on a loaded machine it was seen to hang for good on a process ending from a SIGINT
# (the other runs here exit on their own and keep the check). -k bounds it anyway.
rc=0
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
  timeout -k 10 -s INT --preserve-status 4.5 "$ct" status --url "$api" \
  --token-file "$T/http.token" --watch 1 >"$T/watch.out" 2>"$T/watch.err" || rc=$?
expect_eq "--watch ends on SIGINT with 0" 0 "$rc"
blocks=$(grep -c '^carteiro status  ' "$T/watch.out" || true)
expect_eq "--watch printed at least two blocks" true "$([ "$blocks" -ge 2 ] && echo true || echo false)"
expect_eq "--watch blocks are whole" "$blocks" "$(grep -c '^http api   accepted 1  duplicates 1  rejected 2$' "$T/watch.out")"
expect_eq "--watch: no clear-screen codes on a pipe" 0 "$(grep -c $'\033' "$T/watch.out" || true)"

stop_ct 20
expect_eq "exit status on SIGTERM" 0 "$ct_status"

# Nothing listening any more.
expect_status "daemon gone" 69 "$ct" status --url "$api" --token-file "$T/http.token"
expect_eq "daemon gone named" 1 \
  "$(grep -c "^carteiro status: cannot reach the daemon at $api/v1/status: " "$T/err")"
finish
