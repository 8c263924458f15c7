#!/usr/bin/env bash
# Three carteiro nodes drain one JetStream spool (a 3-node cluster, replicas 3): every job is
# delivered, no message reaches the providers twice, and each node delivers a share.
# usage: jetstream_drain.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA NATS_CLUSTER [COUNT]
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 nats_cluster=$5 count=${6:-20000}
. "$(dirname "$0")/engine.sh"
. "$(dirname "$0")/jetstream.sh"

start_cluster
start_mock --latency whatsapp=5 --latency twilio=5 --latency sendgrid=5
export MAX_INFLIGHT=300
write_js_config
"$gen" --count "$count" --seed 21 --profile mixed --format jsonl --out "$T/jobs.jsonl"
read -r want_wa want_sms want_email < <(messages_expected "$T/jobs.jsonl")

t0=$(now_ms)
"$ct" enqueue --quiet "$T/jobs.jsonl"
t1=$(now_ms)
echo "enqueue: $count jobs in $((t1 - t0)) ms (publish acks from 3 replicas)"
expect_eq "jobs stream holds every job" "$count" "$(js_stream_msgs CARTEIRO_JOBS)"

for i in 1 2 3; do start_node "$i" --drain --report; done
for i in 1 2 3; do
  wait_node "$i" 120
  expect_eq "node $i exit status" 0 "$node_status"
done
t2=$(now_ms)
total=0
for i in 1 2 3; do
  d=$(node_report "$i" .delivered)
  echo "node $i delivered $d"
  expect_eq "node $i delivered a share (> 0)" true "$([ "$d" -gt 0 ] && echo true || echo false)"
  expect_eq "node $i: nothing dead" 0 "$(node_report "$i" .dead)"
  total=$((total + d))
done
echo "3 nodes: $count jobs delivered in $((t2 - t1)) ms"
expect_eq "deliveries over all nodes" "$count" "$total"
expect_eq "jobs stream empty" 0 "$(js_stream_msgs CARTEIRO_JOBS)"
expect_eq "spool delivered (receipts)" "$count" "$(spool_stat .delivered)"
expect_eq "spool dead" 0 "$(spool_stat .dead)"
expect_eq "whatsapp messages seen" "$want_wa" "$(mock_stat .endpoints.whatsapp_messages.unique_keys)"
expect_eq "sms messages seen" "$want_sms" "$(mock_stat .endpoints.twilio_messages.unique_keys)"
expect_eq "email messages seen" "$want_email" "$(mock_stat .endpoints.sendgrid_mail.unique_keys)"
expect_eq "messages sent twice" 0 "$(mock_stat .total.duplicates)"
expect_eq "messages accepted, each once" "$((want_wa + want_sms + want_email))" "$(mock_stat .total.ok)"

finish
