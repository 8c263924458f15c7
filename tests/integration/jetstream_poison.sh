#!/usr/bin/env bash
# Jobs the JetStream spool cannot deliver normally go to the DLQ, never stay in the stream:
#
#   max_deliver: a job delivered nats_max_deliver (3) times is not tried on its last delivery
#                (the server would never deliver it again): it lands in the DLQ with reason
#                max_deliveries and its history from the state bucket, and `run --drain` ends;
#                replayed, it is delivered;
#   undecodable: a message on the jobs subject that is not a Job lands in the DLQ with reason
#                undecodable, its bytes kept as they came; `dlq export` leaves it out and says
#                so, `dlq replay` leaves it alone, `dlq purge` removes it.
#
# The two failed tries are made by spool-fixture (a transient attempt each, due again in
# 500 ms), so the delivery count is exact; the garbage is published with the NATS text
# protocol over bash's /dev/tcp.
# usage: jetstream_poison.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA NATS_CLUSTER FIXTURE
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 nats_cluster=$5 fixture=$6
. "$(dirname "$0")/engine.sh"
. "$(dirname "$0")/jetstream.sh"

count=5
start_cluster
start_mock
write_js_config "nats_max_deliver = 3"
export CARTEIRO_SPOOL="$urls?replicas=3&max_deliver=3"
nats_port=$(cat "$cluster_dir/base-port")

# nats_session SECONDS: sends stdin (NATS protocol lines, CRLF-terminated) to node 1 and prints
# what the server answers within SECONDS.
nats_session() {
  local out
  exec 3<>"/dev/tcp/127.0.0.1/$nats_port"
  cat >&3
  out=$(timeout "$1" cat <&3 || true)
  exec 3<&-
  printf '%s\n' "$out"
}

# ---- max_deliver ------------------------------------------------------------------------------
"$gen" --count "$count" --seed 61 --profile bank --format jsonl --out "$T/jobs.jsonl"
"$ct" enqueue "$T/jobs.jsonl" >"$T/enq.out" 2>&1
expect_line "enqueue" "$T/enq.out" "$T/jobs.jsonl: $count records: $count enqueued, 0 duplicates, 0 rejected"
for try in 1 2; do
  expect_eq "delivery $try: jobs retried" "$count" "$("$fixture" "$CARTEIRO_SPOOL" retry sms twilio "$count")"
  sleep 1.5 # past the 500 ms retry delay: due again
done
start_node 1 --drain --report
wait_node 1 30
expect_eq "max_deliver: node 1 exit status" 0 "$node_status"
expect_eq "max_deliver: nothing delivered" 0 "$(node_report 1 .delivered)"
expect_eq "max_deliver: nothing sent" 0 "$(mock_stat '.total.ok // 0')"
expect_eq "max_deliver: jobs stream empty" 0 "$(js_stream_msgs CARTEIRO_JOBS)"
expect_eq "max_deliver: dead by reason" '{"max_deliveries":5}' "$(spool_stat '.dead_by_reason | tojson')"
id1=$(jq -r .id "$T/jobs.jsonl" | sed -n 1p)
expect_eq "max_deliver: job state" dead "$(job_field "$id1" .state)"
expect_eq "max_deliver: both failed tries in its history" "sms:transient,sms:transient" \
  "$(job_field "$id1" '[.attempts[] | "\(.channel):\(.outcome)"] | join(",")')"
"$ct" dlq list --json >"$T/dlq1.json"
expect_eq "max_deliver: dlq list attempts" "2 2 2 2 2" "$(jq -r '[.[].attempts] | join(" ")' "$T/dlq1.json")"
grep -q 'moved to the DLQ with reason max_deliveries' "$T/node-1.log" ||
  fail "max_deliver: node 1 did not log the dead letters"

"$ct" dlq replay --yes >"$T/replay.out" 2>&1
expect_line "max_deliver: replay" "$T/replay.out" "replayed $count dead letters"
start_node 2 --drain --report
wait_node 2 30
expect_eq "replay: node 2 exit status" 0 "$node_status"
expect_eq "replay: delivered" "$count" "$(node_report 2 .delivered)"
expect_eq "replay: spool delivered" "$count" "$(spool_stat .delivered)"
expect_eq "replay: spool dead" 0 "$(spool_stat .dead)"

# ---- undecodable ------------------------------------------------------------------------------
# 'n' (0x6e) starts a protobuf field of wire type 6, which does not exist: it never decodes.
garbage="not-a-job 0123456789"
hdr=$'NATS/1.0\r\nNats-Msg-Id: garbage-1\r\n\r\n'
printf 'CONNECT {"verbose":false,"headers":true}\r\nHPUB carteiro.jobs.tg %d %d\r\n%s%s\r\nPING\r\n' \
  "${#hdr}" $((${#hdr} + ${#garbage})) "$hdr" "$garbage" | nats_session 1 >"$T/pub.out"
grep -q PONG "$T/pub.out" || fail "garbage publish: no PONG: $(cat "$T/pub.out")"
one_ready() { [ "$(js_stream_msgs CARTEIRO_JOBS)" = 1 ]; }
wait_until 10 one_ready || fail "the garbage did not reach the jobs stream"
start_node 3 --drain --report
wait_node 3 30
expect_eq "undecodable: node 3 exit status" 0 "$node_status"
expect_eq "undecodable: jobs stream empty" 0 "$(js_stream_msgs CARTEIRO_JOBS)"
expect_eq "undecodable: dead by reason" '{"undecodable":1}' "$(spool_stat '.dead_by_reason | tojson')"
"$ct" dlq list --json >"$T/dlq2.json"
expect_eq "undecodable: dlq list" "garbage-1 tg undecodable 0" \
  "$(jq -r '.[] | "\(.id) \(.tenant) \(.reason) \(.attempts)"' "$T/dlq2.json")"
grep -q 'does not decode (.*); moved to the DLQ with reason undecodable' "$T/node-3.log" ||
  fail "undecodable: node 3 did not log it"
# The bytes as they came, for the operator: a direct get of the last dead letter on its subject.
printf 'CONNECT {"verbose":false,"headers":true}\r\nSUB _INBOX.poison 1\r\nPUB $JS.API.DIRECT.GET.CARTEIRO_DLQ.carteiro.dlq.tg.undecodable _INBOX.poison 0\r\n\r\n' |
  nats_session 2 >"$T/get.out"
grep -q 'Ct-Raw-Job: 1' "$T/get.out" || fail "undecodable: dead letter without Ct-Raw-Job"
expect_eq "undecodable: payload kept byte for byte" 1 "$(grep -cxF "$garbage"$'\r' "$T/get.out")"

"$ct" dlq export "$T/dlq.pbs.zst" >"$T/export.out" 2>&1
expect_line "undecodable: export" "$T/export.out" "exported 0 dead letters to $T/dlq.pbs.zst"
expect_line "undecodable: export says what it left out" "$T/export.out" \
  "left out 1 dead letters whose stored job does not decode (reason undecodable)"
"$ct" dlq replay --yes >"$T/replay2.out" 2>&1
expect_line "undecodable: replay leaves it" "$T/replay2.out" "replayed 0 dead letters"
expect_eq "undecodable: still dead" 1 "$(js_stream_msgs CARTEIRO_DLQ)"
"$ct" dlq purge --reason undecodable --yes >"$T/purge.out" 2>&1
expect_line "undecodable: purge" "$T/purge.out" "purged 1 dead letters"
expect_eq "undecodable: DLQ empty" 0 "$(js_stream_msgs CARTEIRO_DLQ)"

finish
