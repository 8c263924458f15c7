#!/usr/bin/env bash
# The HTTP API of a running daemon: jobs posted by the billing platform are stored durably
# (202 only after commit), bad records are named, duplicates reported, a job can be read back
# (personal data masked), and /metrics, /healthz and /readyz answer; /v1 needs the token.
# usage: http_api.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4
. "$(dirname "$0")/engine.sh"

start_mock
printf 'ingest-token-synthetic\n' >"$T/http.token"
LOG_LEVEL=info write_config "http_listen = 127.0.0.1:0
http_token_file = $T/http.token"
export CARTEIRO_SPOOL=$T/spool.db
start_ct
listening() { grep -q 'http: listening on 127.0.0.1:' "$T/run.log"; }
wait_until 10 listening || { fail "no 'http: listening' line"; sed 's/^/  run: /' "$T/run.log" >&2; }
port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
api=http://127.0.0.1:$port
auth=(-H "Authorization: Bearer ingest-token-synthetic")

"$gen" --count 3 --seed 71 --profile bank --format jsonl --out "$T/jobs.jsonl"
bad_cpf='.recipient.cpf |= (.[0:10] + ((((.[10:11] | tonumber) + 1) % 10) | tostring))'
jq -s -c "[.[0], (.[1] | $bad_cpf), .[2]]" "$T/jobs.jsonl" >"$T/batch.json"
id0=$(sed -n 1p "$T/jobs.jsonl" | jq -r .id)
cpf0=$(sed -n 1p "$T/jobs.jsonl" | jq -r .recipient.cpf)

code() { curl -s -o "$T/body" -w '%{http_code}' --max-time 10 "$@"; }
expect_eq "no token: 401" 401 "$(code -X POST -H 'content-type: application/json' --data-binary @"$T/batch.json" "$api/v1/jobs")"
expect_eq "wrong token: 401" 401 "$(code -X POST -H 'Authorization: Bearer nope' -H 'content-type: application/json' --data-binary @"$T/batch.json" "$api/v1/jobs")"
expect_eq "batch: 202" 202 "$(code -X POST "${auth[@]}" -H 'content-type: application/json' --data-binary @"$T/batch.json" "$api/v1/jobs")"
expect_eq "accepted" 2 "$(jq -r .accepted "$T/body")"
expect_eq "rejected" 1 "$(jq -r .rejected "$T/body")"
expect_eq "the bad record named" "1 recipient.cpf check digits do not match" \
  "$(jq -r '.errors[0] | "\(.index) \(.field) \(.reason)"' "$T/body")"
# 202 means durable: the jobs are in the spool now, whatever the daemon does next.
expect_eq "stored before the answer" 2 "$(sqlite3 "$CARTEIRO_SPOOL" "select count(*) from job")"
expect_eq "same batch again: 202" 202 "$(code -X POST "${auth[@]}" -H 'content-type: application/json' --data-binary @"$T/batch.json" "$api/v1/jobs")"
expect_eq "duplicates reported" 2 "$(jq -r .duplicates "$T/body")"
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
expect_eq "every acknowledged job survived kill -9" 50 \
  "$(sqlite3 "$CARTEIRO_SPOOL" "select count(*) from job where id >= 'inv-00000900' and id <= 'inv-00000949'")"
finish
