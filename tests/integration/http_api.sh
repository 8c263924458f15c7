#!/usr/bin/env bash
# The HTTP API of a running daemon: jobs posted by the billing platform are stored durably
# (202 only after commit), JSON and protobuf (plain or zstd), bad records are named, duplicates
# reported, 413 over the body limit, 503 + Retry-After over the high-water mark and the same
# jobs accepted once it clears, every acknowledged job kept across kill -9, a job can be read back
# (personal data masked), and /metrics, /healthz and /readyz answer; /v1 needs the token.
# usage: http_api.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"

start_mock
printf 'ingest-token-synthetic\n' >"$T/http.token"
chmod 644 "$T/http.token" # every user may read it: the daemon starts, and says so
LOG_LEVEL=info write_config "http_listen = 127.0.0.1:0
http_token_file = $T/http.token
http_max_body_mb = 1
spool_high_water = 10"
export CARTEIRO_SPOOL=$T/spool.db
start_ct
listening() { grep -q 'http: listening on 127.0.0.1:' "$T/run.log"; }
wait_until 10 listening || { fail "no 'http: listening' line"; sed 's/^/  run: /' "$T/run.log" >&2; }
port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
api=http://127.0.0.1:$port
expect_eq "a token file every user can read is a warning" 1 "$(grep -c "\"level\":\"warn\".*\[carteiro\] http_token_file: $T/http.token is readable by every user (mode 0644); chmod o-r" "$T/run.log")"
auth=(-H "Authorization: Bearer ingest-token-synthetic")

"$gen" --count 3 --seed 71 --profile bank --format jsonl --out "$T/jobs.jsonl"
bad_cpf='.recipient.cpf |= (.[0:10] + ((((.[10:11] | tonumber) + 1) % 10) | tostring))'
jq -s -c "[.[0], (.[1] | $bad_cpf), .[2]]" "$T/jobs.jsonl" >"$T/batch.json"
id0=$(sed -n 1p "$T/jobs.jsonl" | jq -r .id)
id1=$(sed -n 2p "$T/jobs.jsonl" | jq -r .id)
id2=$(sed -n 3p "$T/jobs.jsonl" | jq -r .id)
cpf0=$(sed -n 1p "$T/jobs.jsonl" | jq -r .recipient.cpf)

code() { curl -s -o "$T/body" -w '%{http_code}' --max-time 10 "$@"; }
expect_eq "no token: 401" 401 "$(code -X POST -H 'content-type: application/json' --data-binary @"$T/batch.json" "$api/v1/jobs")"
expect_eq "wrong token: 401" 401 "$(code -X POST -H 'Authorization: Bearer nope' -H 'content-type: application/json' --data-binary @"$T/batch.json" "$api/v1/jobs")"
expect_eq "batch: 202" 202 "$(code -X POST "${auth[@]}" -H 'content-type: application/json' --data-binary @"$T/batch.json" "$api/v1/jobs")"
expect_eq "accepted" 2 "$(jq -r .accepted "$T/body")"
expect_eq "rejected" 1 "$(jq -r .rejected "$T/body")"
expect_eq "the bad record named, and only it" "1 recipient.cpf check digits do not match" \
  "$(jq -r '.errors[] | "\(.index) \(.field) \(.reason)"' "$T/body")"
expect_eq "per-record results" "0 accepted $id0,1 rejected $id1,2 accepted $id2" \
  "$(jq -r '[.results[] | "\(.index) \(.result) \(.id)"] | join(",")' "$T/body")"
# 202 means durable: the jobs are in the spool now, whatever the daemon does next.
expect_eq "stored before the answer" 2 "$(sqlite3 "$CARTEIRO_SPOOL" "select count(*) from job")"
expect_eq "same batch again: 202" 202 "$(code -X POST "${auth[@]}" -H 'content-type: application/json' --data-binary @"$T/batch.json" "$api/v1/jobs")"
expect_eq "duplicates reported" "0 2 1" "$(jq -r '"\(.accepted) \(.duplicates) \(.rejected)"' "$T/body")"
expect_eq "duplicates per record" "0 duplicate $id0,1 rejected $id1,2 duplicate $id2" \
  "$(jq -r '[.results[] | "\(.index) \(.result) \(.id)"] | join(",")' "$T/body")"
expect_eq "nothing stored twice" 2 "$(sqlite3 "$CARTEIRO_SPOOL" "select count(*) from job")"
expect_eq "not JSON: 400" 400 "$(code -X POST "${auth[@]}" -H 'content-type: application/json' --data-binary 'not json' "$api/v1/jobs")"

delivered() { [ "$(spool_stat .delivered)" = 2 ]; }
wait_until 20 delivered || fail "the posted jobs were not delivered within 20 s"
expect_eq "GET job: 200" 200 "$(code "${auth[@]}" "$api/v1/jobs/$id0")"
expect_eq "GET job: state" delivered "$(jq -r .state "$T/body")"
expect_no_match "GET job: CPF masked" "$T/body" "$cpf0"
expect_eq "GET unknown job: 404" 404 "$(code "${auth[@]}" "$api/v1/jobs/no-such-job")"
expect_eq "GET job without token: 401" 401 "$(code "$api/v1/jobs/$id0")"

expect_eq "healthz" 200 "$(code "$api/healthz")"
expect_eq "readyz" 200 "$(code "$api/readyz")"
expect_eq "metrics" 200 "$(code "$api/metrics")"
expect_line "metrics: ingest" "$T/body" 'carteiro_ingest_jobs_total{result="accepted"} 2'
expect_line "metrics: delivered e-mail" "$T/body" 'carteiro_jobs_delivered_total{channel="email"} 2'
expect_eq "metrics: latency histogram" 1 \
  "$(grep -c '^carteiro_provider_request_duration_seconds_count{provider="email"} 2$' "$T/body")"
expect_eq "metrics: no personal data" 0 "$(grep -c -- "$cpf0" "$T/body")"

# results RESULT_FILE: the per-record results as "index result id" joined by commas.
results() { jq -r '[.results[] | "\(.index) \(.result) \(.id)"] | join(",")' "$1"; }
# stored FIRST LAST: how many jobs with ids inv-FIRST..inv-LAST the spool holds.
stored() {
  sqlite3 "$CARTEIRO_SPOOL" "select count(*) from job where id between 'inv-$(printf %08d "$1")' and 'inv-$(printf %08d "$2")'"
}

# Protobuf, as any protobuf client sends it: one Job as the whole body; a batch in the .pbs
# framing (a varint length before each Job) with X-Carteiro-Batch: delimited; and that batch
# zstd-compressed (Content-Encoding: zstd).
pb=(-H 'content-type: application/x-protobuf')
"$gen" --count 1 --seed 75 --start-id 600 --profile bank --format pbs --out "$T/one.pbs"
read -r b0 b1 < <(od -An -tu1 -N2 "$T/one.pbs")
if [ "$b0" -lt 128 ]; then prefix=1 len=$b0; else prefix=2 len=$((b0 - 128 + 128 * b1)); fi
expect_eq "one record: prefix + Job is the file" "$(stat -c %s "$T/one.pbs")" "$((prefix + len))"
tail -c +$((prefix + 1)) "$T/one.pbs" >"$T/one.pb"
expect_eq "one protobuf Job: 202" 202 \
  "$(code -X POST "${auth[@]}" "${pb[@]}" --data-binary @"$T/one.pb" "$api/v1/jobs")"
expect_eq "one protobuf Job: result" "0 accepted inv-00000600" "$(results "$T/body")"
"$gen" --count 4 --seed 76 --start-id 610 --profile bank --format pbs --out "$T/four.pbs"
expect_eq "protobuf batch: 202" 202 "$(code -X POST "${auth[@]}" "${pb[@]}" \
  -H 'X-Carteiro-Batch: delimited' --data-binary @"$T/four.pbs" "$api/v1/jobs")"
expect_eq "protobuf batch: results" \
  "0 accepted inv-00000610,1 accepted inv-00000611,2 accepted inv-00000612,3 accepted inv-00000613" \
  "$(results "$T/body")"
expect_eq "protobuf batch: counts" "4 0 0 []" \
  "$(jq -c -r '"\(.accepted) \(.duplicates) \(.rejected) \(.errors)"' "$T/body")"
"$gen" --count 3 --seed 77 --start-id 620 --profile bank --format pbs --zstd --out "$T/three.pbs.zst"
expect_eq "zstd protobuf batch: 202" 202 "$(code -X POST "${auth[@]}" "${pb[@]}" \
  -H 'X-Carteiro-Batch: delimited' -H 'Content-Encoding: zstd' \
  --data-binary @"$T/three.pbs.zst" "$api/v1/jobs")"
expect_eq "zstd protobuf batch: results" \
  "0 accepted inv-00000620,1 accepted inv-00000621,2 accepted inv-00000622" "$(results "$T/body")"
expect_eq "protobuf jobs stored" 8 "$(stored 600 622)"
expect_eq "framing named wrongly: 400" 400 "$(code -X POST "${auth[@]}" "${pb[@]}" \
  -H 'X-Carteiro-Batch: lines' --data-binary @"$T/four.pbs" "$api/v1/jobs")"

# Over http_max_body_mb (1 MiB): 413 for the body as sent, and for a small zstd body that
# decompresses beyond it; nothing from either is stored.
"$gen" --count 3 --seed 78 --start-id 630 --profile bank --format jsonl --out "$T/big.jsonl"
{ jq -s -c . "$T/big.jsonl"; head -c $((1100 * 1024)) /dev/zero | tr '\0' ' '; } >"$T/big.json"
expect_eq "over the limit: 413" 413 "$(code -X POST "${auth[@]}" -H 'content-type: application/json' \
  --data-binary @"$T/big.json" "$api/v1/jobs")"
zstd -q -c "$T/big.json" >"$T/big.json.zst"
expect_eq "zstd body is small" 1 "$(($(stat -c %s "$T/big.json.zst") < 64 * 1024))"
expect_eq "decompressed over the limit: 413" 413 "$(code -X POST "${auth[@]}" \
  -H 'content-type: application/json' -H 'Content-Encoding: zstd' \
  --data-binary @"$T/big.json.zst" "$api/v1/jobs")"
expect_eq "decompressed over the limit: why" "decompressed body larger than the limit" \
  "$(jq -r .error "$T/body")"
expect_eq "nothing stored over the limit" 0 "$(stored 630 632)"

# Over the high-water mark (10 READY jobs): 503 + Retry-After and nothing stored; once the
# spool is back under it, the very same request is accepted.
"$gen" --count 12 --seed 79 --start-id 700 --profile bank --format jsonl --out "$T/held.jsonl"
jq -s -c --argjson t "$(($(now_ms) + 6000))" 'map(.not_before_ms = $t)' "$T/held.jsonl" >"$T/held.json"
expect_eq "12 jobs held 6 s: 202" 202 "$(code -X POST "${auth[@]}" -H 'content-type: application/json' \
  --data-binary @"$T/held.json" "$api/v1/jobs")"
expect_eq "12 jobs held: accepted" 12 "$(jq -r .accepted "$T/body")"
"$gen" --count 3 --seed 80 --start-id 720 --profile bank --format jsonl --out "$T/later.jsonl"
jq -s -c . "$T/later.jsonl" >"$T/later.json"
post_later() {
  curl -s -D "$T/headers" -o "$T/body" -w '%{http_code}' --max-time 10 -X POST "${auth[@]}" \
    -H 'content-type: application/json' --data-binary @"$T/later.json" "$api/v1/jobs" >"$T/code"
}
# The spool is counted every 2 s: /readyz (which stores nothing) shows when the count is in.
unready() { [ "$(code "$api/readyz")" = 503 ]; }
wait_until 6 unready || fail "readyz not 503 within 6 s of 12 READY jobs over a high-water mark of 10"
expect_eq "saturated: readyz says why" "spool over its high-water mark or disk nearly full" "$(cat "$T/body")"
post_later
expect_eq "saturated: 503" 503 "$(cat "$T/code")"
expect_eq "saturated: Retry-After" 5 "$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$T/headers")"
expect_eq "saturated: why" "saturated, retry later" "$(jq -r .error "$T/body")"
expect_eq "saturated: nothing stored" 0 "$(stored 720 722)"
# The held jobs come due, are delivered, and the next count clears the mark.
not_503() { post_later; [ "$(cat "$T/code")" != 503 ]; }
wait_until 20 not_503 || fail "still 503 20 s after the held jobs came due"
expect_eq "cleared: the same request is accepted" 202 "$(cat "$T/code")"
expect_eq "cleared: results" "0 accepted inv-00000720,1 accepted inv-00000721,2 accepted inv-00000722" \
  "$(results "$T/body")"
expect_eq "cleared: stored" 3 "$(stored 720 722)"
expect_eq "cleared: readyz" 200 "$(code "$api/readyz")"

stop_ct 20
expect_eq "exit status on SIGTERM" 0 "$ct_status"

# kill -9 right after a 202: what was acknowledged is in the spool.
start_ct
relisten() { [ "$(grep -c 'http: listening on 127.0.0.1:' "$T/run.log")" -ge 1 ]; }
wait_until 10 relisten || fail "no 'http: listening' line after the restart"
port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | tail -1 | sed 's/.*://')
"$gen" --count 50 --seed 72 --start-id 900 --profile bank --format jsonl --out "$T/more.jsonl"
jq -s -c . "$T/more.jsonl" >"$T/more.json"
status=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 10 "${auth[@]}" \
  -H 'content-type: application/json' --data-binary @"$T/more.json" "http://127.0.0.1:$port/v1/jobs")
kill -KILL "$ct_pid"
wait "$ct_pid" 2>/dev/null || true
ct_pid=""
expect_eq "batch before the kill: 202" 202 "$status"
expect_eq "accepted before the kill" 50 "$(jq -r .accepted "$T/body")"
jq -r '.results[] | select(.result == "accepted") | .id' "$T/body" | sort >"$T/acked"
expect_eq "acknowledged ids are the batch's" "$(jq -r .id "$T/more.jsonl" | sort | xargs)" "$(xargs <"$T/acked")"
sqlite3 "$CARTEIRO_SPOOL" "select id from job where id between 'inv-00000900' and 'inv-00000949'" |
  sort >"$T/kept"
expect_eq "every acknowledged job survived kill -9" "$(xargs <"$T/acked")" "$(xargs <"$T/kept")"
finish
