#!/usr/bin/env bash
# The JetStream spool's idempotency, retries and dead letters, on a 3-node cluster:
#
#   duplicates:  the same job ids enqueued again (CLI, then the HTTP API of a running node)
#                store nothing: the jobs stream's message count is unchanged, and both say
#                "duplicate";
#   retries:     transient failures (5xx) come back after their backoff and are delivered;
#   dead:        permanent refusals land in the DLQ stream with their attempts; `carteiro dlq
#                list` shows them, `carteiro dlq replay` publishes them again and a node
#                delivers them once the cause is fixed.
# usage: jetstream_dlq.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA NATS_CLUSTER
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 nats_cluster=$5
. "$(dirname "$0")/engine.sh"
. "$(dirname "$0")/jetstream.sh"

count=200 refused=5
start_cluster
"$gen" --count "$count" --seed 41 --profile telco --format jsonl --out "$T/jobs.jsonl"
rules=()
# The first $refused recipients are refused on WhatsApp and SMS alike: dead, permanent_failure.
for r in $(jq -r .recipient.phone "$T/jobs.jsonl" | sed -n "1,${refused}p" | tr -d +); do
  rules+=(--reject "whatsapp=exact:$r" --reject "twilio=exact:$r")
done
start_mock --fault whatsapp.server_error=0.2 "${rules[@]}"
printf 'ingest-token-synthetic\n' >"$T/http.token"
LOG_LEVEL=info write_js_config "http_listen = 127.0.0.1:0
http_token_file = $T/http.token"

# ---- Duplicates ----------------------------------------------------------------------------
"$ct" enqueue "$T/jobs.jsonl" >"$T/enq1.out" 2>&1
expect_line "first enqueue" "$T/enq1.out" "$T/jobs.jsonl: $count records: $count enqueued, 0 duplicates, 0 rejected"
expect_eq "jobs stream after the first enqueue" "$count" "$(js_stream_msgs CARTEIRO_JOBS)"
"$ct" enqueue "$T/jobs.jsonl" >"$T/enq2.out" 2>&1
expect_line "same file again" "$T/enq2.out" "$T/jobs.jsonl: $count records: 0 enqueued, $count duplicates, 0 rejected"
expect_eq "jobs stream unchanged by the CLI duplicates" "$count" "$(js_stream_msgs CARTEIRO_JOBS)"

# A node with the HTTP API, not taking yet: the mock refuses everything until it is replaced.
start_node 1
listening() { grep -q 'http: listening on 127.0.0.1:' "$T/node-1.log"; }
wait_until 15 listening || fail "node 1: no 'http: listening' line"
port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/node-1.log" | head -1 | sed 's/.*://')
jq -s -c '.[0:10]' "$T/jobs.jsonl" >"$T/batch.json"
code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 10 -X POST \
  -H "Authorization: Bearer ingest-token-synthetic" -H 'content-type: application/json' \
  --data-binary @"$T/batch.json" "http://127.0.0.1:$port/v1/jobs")
expect_eq "HTTP: same ids again: 202" 202 "$code"
expect_eq "HTTP: duplicates reported" 10 "$(jq -r .duplicates "$T/body")"
expect_eq "HTTP: accepted" 0 "$(jq -r .accepted "$T/body")"

# ---- Retries and dead letters --------------------------------------------------------------
# Every job is tried; the refused ones die. The node stops once the stream is empty.
all_settled() {
  [ "$(spool_stat .delivered)" = $((count - refused)) ] && [ "$(spool_stat .dead)" = "$refused" ]
}
wait_until 60 all_settled || fail "not every job settled within 60 s"
kill -TERM "${node_pids[1]}"
wait_node 1 20
expect_eq "node 1 exit status" 0 "$node_status"
expect_eq "delivered" $((count - refused)) "$(spool_stat .delivered)"
expect_eq "dead" "$refused" "$(spool_stat .dead)"
expect_eq "dead by reason" '{"permanent_failure":5}' "$(spool_stat '.dead_by_reason | tojson')"
expect_eq "jobs stream empty" 0 "$(js_stream_msgs CARTEIRO_JOBS)"
expect_eq "DLQ stream" "$refused" "$(js_stream_msgs CARTEIRO_DLQ)"
server_errors=$(mock_stat .endpoints.whatsapp_messages.outcomes.server_error)
echo "transient failures injected: $server_errors"
expect_eq "some transient failures happened" true "$([ "${server_errors:-0}" -gt 0 ] && echo true || echo false)"
expect_eq "retried jobs delivered: whatsapp messages accepted" $((2 * (count - refused))) \
  "$(mock_stat .endpoints.whatsapp_messages.unique_keys)"

"$ct" dlq list --json >"$T/dlq.json"
expect_eq "dlq list: entries" "$refused" "$(jq length "$T/dlq.json")"
want_ids=$(jq -r .id "$T/jobs.jsonl" | sed -n "1,${refused}p" | sort | xargs)
expect_eq "dlq list: the refused jobs" "$want_ids" "$(jq -r '.[] | .job_id // .id' "$T/dlq.json" | sort | xargs)"
id1=$(jq -r .id "$T/jobs.jsonl" | sed -n 1p)
expect_eq "dead job: state" dead "$(job_field "$id1" .state)"
expect_eq "dead job: failures recorded (whatsapp, then sms)" "whatsapp:permanent,sms:permanent" \
  "$(job_field "$id1" '[.attempts[] | select(.outcome != "accepted") | "\(.channel):\(.outcome)"] | join(",")')"

# ---- Replay, once the cause is fixed --------------------------------------------------------
stop_mock
start_mock
write_js_config
"$ct" dlq replay --yes >"$T/replay.out" 2>&1 || fail "dlq replay failed: $(cat "$T/replay.out")"
expect_eq "DLQ empty after replay" 0 "$(js_stream_msgs CARTEIRO_DLQ)"
expect_eq "replayed jobs back in the jobs stream" "$refused" "$(js_stream_msgs CARTEIRO_JOBS)"
start_node 2 --drain --report
wait_node 2 60
expect_eq "node 2 exit status" 0 "$node_status"
expect_eq "replay: delivered" "$refused" "$(node_report 2 .delivered)"
expect_eq "spool delivered after replay" "$count" "$(spool_stat .delivered)"
expect_eq "spool dead after replay" 0 "$(spool_stat .dead)"
expect_eq "replayed job: state" delivered "$(job_field "$id1" .state)"
expect_eq "replayed job: earlier failures kept" 2 \
  "$(job_field "$id1" '[.attempts[] | select(.outcome == "permanent")] | length')"

finish
