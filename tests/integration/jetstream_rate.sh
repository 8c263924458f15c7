#!/usr/bin/env bash
# One provider account's rate shared by three nodes on one JetStream spool: a 3-node
# nats-server cluster (tools/nats-cluster) holds JOBS WhatsApp jobs for one account in the
# jobs stream (replicas 3), and three `carteiro run --drain` nodes take from it while they share
# the account's rate R (burst B = R / 10) through [cluster], a KV bucket on the same cluster
# (every node given all three URLs).
#
#   - every job delivered exactly once: the mock accepts each message once (2 a job), none
#     twice, nothing refused; the nodes' deliveries add up to JOBS; the stream is empty and
#     every job has its receipt;
#   - at the mock, no one-second window over the whole run holds more than R + max(B, 3)
#     messages of the account (rate.sh);
#   - throughput >= 85 % of R over the steady part: the run less 2 s at each end (the nodes
#     join within a second and a half of the start, and, taking from one stream at equal
#     shares, run out together);
#   - each node delivers a share (> 0).
#
# usage: jetstream_rate.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA NATS_CLUSTER [RATE]
#        [JOBS]
#   RATE  the account's rate (default 300/s), JOBS in the spool (default 3000 = 6000 messages:
#   20 s of sending at 300/s)
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 nats_cluster=$5 rate=${6:-300} jobs=${7:-3000}
. "$(dirname "$0")/engine.sh"
. "$(dirname "$0")/jetstream.sh"
records=$((2 * jobs + 1000)) # every message, and room for any retry the test would report
. "$(dirname "$0")/rate.sh"
heartbeat_ms=250

start_cluster
start_mock --records "$records"
# Concurrency above what the rate needs, so that tokens are reserved ahead of time (as in
# cluster_rate.sh); each node holds that many leases on the stream while it waits for them.
# 100 is 2 s of a node's share at 300/s and 4 s at 150/s: far fewer than the jobs, so the
# nodes take from the stream all through the run, in the sanitizer build too.
export MAX_INFLIGHT=100 WA_RATE=$rate WA_BURST=$burst WA_CONCURRENCY=200 LOG_LEVEL=info
write_js_config "
[cluster]
nats = $urls
heartbeat = ${heartbeat_ms}ms
bucket = carteiro-nodes-test"

"$gen" --count "$jobs" --seed 71 --profile telco --channels whatsapp --format jsonl \
  --out "$T/jobs.jsonl"
read -r want_wa want_sms want_email < <(messages_expected "$T/jobs.jsonl")
expect_eq "the data set: 2 WhatsApp messages a job, nothing else" "$((2 * jobs)) 0 0" \
  "$want_wa $want_sms $want_email"
"$ct" enqueue --quiet "$T/jobs.jsonl"
expect_eq "jobs stream holds every job" "$jobs" "$(js_stream_msgs CARTEIRO_JOBS)"

t_start=$(now_ms)
for i in 1 2 3; do start_node "$i" --drain --report; done
# One deadline for the three (60 s, three times the normal run): a hung run fails and stops
# its cluster itself, well before the test's timeout would kill it with everything running.
deadline=$(($(date +%s) + 60))
for i in 1 2 3; do
  left=$((deadline - $(date +%s)))
  wait_node "$i" "$((left > 1 ? left : 1))"
  expect_eq "node $i exit status" 0 "$node_status"
done
t_end=$(now_ms)
for i in 1 2 3; do
  grep -h "cluster:" "$T/node-$i.log" | jq -r '"  \(.ts) node '$i': \(.msg)"' 2>/dev/null || true
done

total=0
counts=""
for i in 1 2 3; do
  d=$(node_report "$i" .delivered)
  counts+="${counts:+, }node $i $d"
  expect_eq "node $i delivered a share (> 0)" true "$([ "$d" -gt 0 ] && echo true || echo false)"
  expect_eq "node $i: nothing dead" 0 "$(node_report "$i" .dead)"
  total=$((total + d))
done
echo "3 nodes: $jobs jobs in $((t_end - t_start)) ms ($counts)"
expect_eq "deliveries over all nodes" "$jobs" "$total"
expect_eq "jobs stream empty" 0 "$(js_stream_msgs CARTEIRO_JOBS)"
expect_eq "DLQ empty" 0 "$(js_stream_msgs CARTEIRO_DLQ)"
expect_eq "spool delivered (receipts)" "$jobs" "$(spool_stat .delivered)"
expect_eq "messages of the account accepted" "$want_wa" \
  "$(mock_stat ".endpoints.whatsapp_messages.accounts[\"$WA_PHONE_ID\"].ok")"
expect_eq "whatsapp messages seen" "$want_wa" "$(mock_stat .endpoints.whatsapp_messages.unique_keys)"
expect_eq "messages sent twice" 0 "$(mock_stat .total.duplicates)"
expect_eq "requests refused or failed" 0 "$(mock_stat '.total.requests - .total.ok')"

p=$(peak)
wa_records >"$T/msgs.json"
expect_eq "records of every message" "$want_wa" "$(jq length "$T/msgs.json")"
first=$(jq '.[0]' "$T/msgs.json")
last=$(jq '.[-1]' "$T/msgs.json")
steady=$(rate_between "$((first + 2000))" "$((last - 2000))" "$T/msgs.json")
echo "rate $rate/s, burst $burst: peak $p in one second (bound $bound); sending for" \
  "$((last - first)) ms, steady $steady/s ($(pct "$steady") % of R); per second:" \
  "$(per_second "$T/msgs.json"); busiest window: $(peak_window "$T/msgs.json")"
expect_eq "peak per second ($p) <= R + max(B, n) ($bound)" true "$(within_bound "$p")"
# Nodes that open a new spool together race to set it up; a node that waited out a request
# nats-server left unanswered once started 9-10 s after the others, its share unused (77 % of
# R, 84 % under sanitizers). Open now asks again after a short wait (spool/jetstream).
expect_eq "steady throughput ($steady/s) >= 85 % of $rate/s" true "$(at_least_85 "$steady")"

finish
