#!/usr/bin/env bash
# Three carteiro nodes deliver for one WhatsApp account whose rate R (burst B) is global: they
# share it through a JetStream KV bucket of live nodes ([cluster]), on a nats-server this test
# starts on 127.0.0.1 with its own store and port.
#
# Part 1, steady: three daemons, each with its own spool holding the same number of jobs for
# the same account, started together and run to the end (--drain). At the mock, no one-second
# window holds more than R + B messages of the account (peak_rps_accepted, a sliding window of
# 1 s in 10 ms steps; see delivery_rate.sh for why R + B is the exact bound), and while all
# three have work the throughput is at least 85 % of R.
#
# Part 2, join and leave: two daemons, a third started mid-run, one of the first two killed
# with SIGKILL later (its key is not deleted: the others notice when it stops beating). The
# per-second maximum still holds throughout, and after the kill the two left take over its
# share (the last seconds run at >= 85 % of R again).
#
# Part 3, NATS restarts: two daemons; the NATS server is stopped for 2 s (the nodes go stale and
# stop sending) and started again on the same port, first with its store kept, then with its
# store wiped (the bucket is gone and must be made again). Each time the nodes send again
# within the join wait and a few heartbeats of the server being back, at >= 85 % of R two
# seconds later, and the per-second maximum holds throughout. Then one node is killed and
# started again at once under the same node id: it does not take its previous instance's key
# for another process (no phantom third node).
#
# The bound: each of n nodes sends at R / n with a burst of max(1, B / n), so any one second
# holds at most R + max(B, n) (R + B here: B >= 3; rate.sh).
#
# usage: cluster_rate.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA [RATE] [JOBS]
#   RATE  the account's rate (default 300/s; burst RATE / 10), JOBS per node in part 1
#   (default 1000 jobs = 2000 messages: 3 x 2000 / 300 = 20 s of sending)
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 rate=${5:-300} jobs=${6:-1000}
. "$(dirname "$0")/engine.sh"
. "$(dirname "$0")/rate.sh"
heartbeat_ms=250

nats_pid=""
node_pids=()
stop_cluster_test() {
  for pid in "${node_pids[@]}" $nats_pid; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  stop_all
}
trap stop_cluster_test EXIT

command -v nats-server >/dev/null || { echo "SKIP: no nats-server"; exit 77; }
mkdir -p "$T/nats"
# start_nats PORT LOG: nats-server on 127.0.0.1 (PORT -1: any free port) with its store in
# $T/nats; sets nats_pid, and nats_url once it is ready for clients.
start_nats() {
  nats-server -js -a 127.0.0.1 -p "$1" -sd "$T/nats" -l "$2" &
  nats_pid=$!
  nats_url=""
  local port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
             "$2" 2>/dev/null | head -n 1 || true)
    if [ -n "$port" ] && grep -q "Server is ready" "$2" 2>/dev/null; then
      nats_url=nats://127.0.0.1:$port
      break
    fi
    sleep 0.05
  done
  [ -n "$nats_url" ] || { echo "FAIL: nats-server did not start" >&2; cat "$2" >&2; exit 1; }
}
start_nats -1 "$T/nats.log"
nats_port=${nats_url##*:}

records=100000
start_mock --records "$records"
# Concurrency above what the rate needs, so that tokens are reserved well ahead of time: a
# share that changes must void them (dispatch/throttle.h).
export MAX_INFLIGHT=400 WA_RATE=$rate WA_BURST=$burst WA_CONCURRENCY=200 LOG_LEVEL=info
write_config "
[cluster]
nats = $nats_url
heartbeat = ${heartbeat_ms}ms
bucket = carteiro-nodes-test"

# node_config NAME: $T/NAME.ini, the shared configuration with its own spool and node id.
node_config() {
  sed -e "s|^spool = .*|spool = $T/$1.db|" -e "s|^heartbeat = .*|&\nnode_id = $1|" \
    "$T/carteiro.ini" >"$T/$1.ini"
}

# fill NAME COUNT SEED: a spool of COUNT WhatsApp invoice jobs (2 messages each).
fill() {
  node_config "$1"
  "$gen" --count "$2" --seed "$3" --profile telco --channels whatsapp --format jsonl \
    --out "$T/$1.jsonl"
  # The same job ids in every spool would be fine for carteiro, not for reading the mock's
  # records: each node gets its own ids.
  sed -i "s/\"id\": *\"/\"id\": \"$1-/" "$T/$1.jsonl"
  "$ct" enqueue --quiet --spool "$T/$1.db" "$T/$1.jsonl"
}

# start_node NAME [RUN OPTIONS...]: carteiro run in the background; PID in node_pid[NAME].
declare -A node_pid
start_node() {
  local name=$1
  shift
  "$ct" run --config "$T/$name.ini" "$@" >"$T/$name.report" 2>"$T/$name.log" &
  node_pid[$name]=$!
  node_pids+=($!)
}

# wait_node NAME SECONDS: waits for it to exit by itself; sets $node_status to its exit
# status ("timeout" if it had to be killed). Not in a subshell: only this shell can wait.
wait_node() {
  local pid=${node_pid[$1]} limit=$(( $(date +%s) + $2 ))
  node_status=0
  while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$limit" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    node_status=timeout
  else
    wait "$pid" || node_status=$?
  fi
}

# term_node NAME: SIGTERM, then waits (15 s at most) for a clean exit.
term_node() {
  kill -TERM "${node_pid[$1]}" 2>/dev/null || true
  wait_node "$1" 15
}

# ---- part 1: three nodes from the start to the end --------------------------------------------
for i in 1 2 3; do fill "s$i" "$jobs" "$((40 + i))"; done
t_start=$(now_ms)
for i in 1 2 3; do start_node "s$i" --drain --report; done
for i in 1 2 3; do
  wait_node "s$i" 120
  expect_eq "node s$i exits by itself" 0 "$node_status"
  expect_eq "node s$i delivered every job" "$jobs" "$(jq -r .delivered "$T/s$i.report" 2>/dev/null)"
done
echo "part 1: $(( $(now_ms) - t_start )) ms for 3 x $jobs jobs"
for i in 1 2 3; do
  grep -h "cluster:" "$T/s$i.log" | jq -r '"  \(.ts) s'$i': \(.msg)"' 2>/dev/null || true
done

want=$((3 * jobs * 2))
expect_eq "messages accepted at the mock" "$want" \
  "$(mock_stat ".endpoints.whatsapp_messages.accounts[\"$WA_PHONE_ID\"].ok")"
expect_eq "duplicates at the mock" 0 "$(mock_stat .total.duplicates)"
p1=$(peak)
wa_records >"$T/p1.json"
first=$(jq '.[0]' "$T/p1.json")
last=$(jq '.[-1]' "$T/p1.json")
# Steady state: all three have work from the moment the last one joined (at most a second
# and a half after the start: three heartbeats' join wait plus start-up) until the first
# runs out. The nodes run out together (equal work, equal shares), so the window is the run
# less 2 s at each end.
steady=$(rate_between "$((first + 2000))" "$((last - 2000))" "$T/p1.json")
echo "part 1: rate $rate/s, burst $burst: peak $p1 in one second (bound $bound);" \
  "steady $steady/s ($(pct "$steady") % of R); per second: $(per_second "$T/p1.json");" \
  "busiest window: $(peak_window "$T/p1.json")"
expect_eq "part 1: peak per second ($p1) <= R + max(B, n) ($bound)" true \
  "$(within_bound "$p1")"
expect_eq "part 1: steady throughput ($steady/s) >= 85 % of $rate/s" true "$(at_least_85 "$steady")"

# ---- part 2: two nodes, a third joins, one is killed ------------------------------------------
mock_post /stats/reset '' >/dev/null
big=$((rate * 20)) # more than the run can send: nobody drains
for i in 1 2 3; do fill "j$i" "$big" "$((50 + i))"; done
# j1 serves /metrics, to read its view of the cluster.
sed -i "s|^\[carteiro\]$|&\nhttp_listen = 127.0.0.1:0|" "$T/j1.ini"
export CARTEIRO_HTTP_TOKEN=cluster-test-token
# metric NAME: the value of an unlabelled gauge, or of NAME{provider="wa-tim"}, in j1's /metrics.
metric() {
  local port
  port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/j1.log" | head -n 1 | sed 's/.*://')
  curl -sS --max-time 5 "http://127.0.0.1:$port/metrics" |
    awk -v m="$1" '$1 == m || $1 == m "{provider=\"wa-tim\"}" { print $2 }'
}
t0=$(now_ms)
start_node j1
start_node j2
sleep 4
expect_eq "j1 /metrics: nodes before the third" 2 "$(metric carteiro_cluster_nodes)"
expect_eq "j1 /metrics: sending" 1 "$(metric carteiro_cluster_sending)"
expect_eq "j1 /metrics: its rate, 98 % of R / 2" \
  "$(awk -v r="$rate" 'BEGIN { printf "%.3f", 1e6 / int(1e6 / (r * 0.98 / 2) + 0.5) }')" \
  "$(metric carteiro_provider_rate_share)"
start_node j3
sleep 5
expect_eq "j1 /metrics: late tokens are counted" true \
  "$(metric carteiro_provider_rate_tokens_dropped_total | grep -Eq '^[0-9]+$' && echo true || echo false)"
expect_eq "j1 /metrics: nodes with the third" 3 "$(metric carteiro_cluster_nodes)"
kill -KILL "${node_pid[j2]}"
t_kill=$(now_ms)
wait "${node_pid[j2]}" 2>/dev/null || true
sleep 6
expect_eq "j1 /metrics: nodes after the kill" 2 "$(metric carteiro_cluster_nodes)"
t_stop=$(now_ms)
term_node j1
expect_eq "node j1 stops cleanly" 0 "$node_status"
term_node j3
expect_eq "node j3 stops cleanly" 0 "$node_status"
for i in 1 2 3; do
  grep -h "cluster:" "$T/j$i.log" | jq -r '"  \(.ts) j'$i': \(.msg)"' 2>/dev/null || true
done

p2=$(peak)
wa_records >"$T/p2.json"
# From 3 s after the kill (1 s to notice it, with margin) to just before the stop.
after=$(rate_between "$((t_kill + 3000))" "$((t_stop - 500))" "$T/p2.json")
echo "part 2: join at $((4000)) ms, kill at $((t_kill - t0)) ms, stop at $((t_stop - t0)) ms;" \
  "peak $p2 in one second (bound $bound); from kill + 3 s to the stop: $after/s" \
  "($(pct "$after") % of R); per second: $(per_second "$T/p2.json");" \
  "busiest window: $(peak_window "$T/p2.json")"
expect_eq "part 2: peak per second ($p2) <= R + max(B, n) ($bound)" true \
  "$(within_bound "$p2")"
expect_eq "part 2: after the kill the two left use the whole rate ($after/s >= 85 % of $rate/s)" \
  true "$(at_least_85 "$after")"
expect_eq "part 2: j1 saw the third node join" true \
  "$(grep -q "active, 3 nodes" "$T/j1.log" && echo true || echo false)"
expect_eq "part 2: j1 counted two nodes after the kill" true \
  "$(grep "active, 2 nodes" "$T/j1.log" | tail -n 1 | grep -q . && echo true || echo false)"

# ---- part 3: the NATS server restarts ---------------------------------------------------------
mock_post /stats/reset '' >/dev/null
for i in 1 2; do fill "k$i" "$big" "$((60 + i))"; done
t3=$(now_ms)
start_node k1
start_node k2
sleep 3
# restart_nats WIPE: stops the server, 2 s later starts it on the same port (with an empty store
# when WIPE is "wipe"); sets t_back to when it is ready again.
restart_nats() {
  kill -TERM "$nats_pid" 2>/dev/null || true
  wait "$nats_pid" 2>/dev/null || true
  if [ "$1" = wipe ]; then rm -rf "$T/nats/jetstream"; fi
  sleep 2
  start_nats "$nats_port" "$T/nats-$1.log"
  t_back=$(now_ms)
}
# resumed_after T_BACK FILE: ms from T_BACK to the first message accepted after it.
resumed_after() {
  jq --argjson t "$1" '[.[] | select(. >= $t)] | if length > 0 then .[0] - $t else -1 end' "$2"
}
restart_nats keep
t_back_keep=$t_back
sleep 5
restart_nats wipe
t_back_wipe=$t_back
sleep 5
# k2 dies and comes back at once under its node id: its previous key is still in the bucket.
kill -KILL "${node_pid[k2]}"
wait "${node_pid[k2]}" 2>/dev/null || true
start_node k2
sleep 3
term_node k1
expect_eq "node k1 stops cleanly" 0 "$node_status"
term_node k2
expect_eq "node k2 stops cleanly" 0 "$node_status"
for i in 1 2; do
  grep -h "cluster:" "$T/k$i.log" | jq -r '"  \(.ts) k'$i': \(.msg)"' 2>/dev/null || true
done

p3=$(peak)
wa_records | jq --argjson t "$t3" '[.[] | select(. >= $t)]' >"$T/p3.json"
# Back within the join wait (3 heartbeats) and a few more: reconnecting, setting the bucket
# and its watch up again, the first heartbeat back.
resume_limit=$((3 * heartbeat_ms + 8 * heartbeat_ms))
r_keep=$(resumed_after "$t_back_keep" "$T/p3.json")
r_wipe=$(resumed_after "$t_back_wipe" "$T/p3.json")
after_keep=$(rate_between "$((t_back_keep + 3000))" "$((t_back_keep + 5000))" "$T/p3.json")
after_wipe=$(rate_between "$((t_back_wipe + 3000))" "$((t_back_wipe + 5000))" "$T/p3.json")
echo "part 3: NATS back (store kept): first message after $r_keep ms, $after_keep/s 3-5 s" \
  "later; (store wiped): after $r_wipe ms, $after_wipe/s; peak $p3 in one second (bound" \
  "$bound); per second: $(per_second "$T/p3.json"); busiest window: $(peak_window "$T/p3.json")"
expect_eq "part 3: sending again <= $resume_limit ms after NATS is back, store kept ($r_keep)" \
  true "$([ "$r_keep" -ge 0 ] && [ "$r_keep" -le "$resume_limit" ] && echo true || echo false)"
expect_eq "part 3: sending again <= $resume_limit ms after NATS is back, store wiped ($r_wipe)" \
  true "$([ "$r_wipe" -ge 0 ] && [ "$r_wipe" -le "$resume_limit" ] && echo true || echo false)"
expect_eq "part 3: store kept: the whole rate again ($after_keep/s >= 85 % of $rate/s)" true \
  "$(at_least_85 "$after_keep")"
expect_eq "part 3: store wiped: the whole rate again ($after_wipe/s >= 85 % of $rate/s)" true \
  "$(at_least_85 "$after_wipe")"
expect_eq "part 3: peak per second ($p3) <= R + max(B, n) ($bound)" true \
  "$(within_bound "$p3")"
expect_eq "part 3: k2 restarted under its id saw no other process with it" 0 \
  "$(grep -c "another process uses node id" "$T/k2.log" || true)"
expect_eq "part 3: k2 restarted never counted a third node" 0 \
  "$(grep -c "nodes\?: this node's share is 1/3" "$T/k2.log" || true)"
expect_eq "part 3: k2 restarted joined the two" true \
  "$(grep -q "active, 2 nodes" "$T/k2.log" && echo true || echo false)"

kill -TERM "$nats_pid" 2>/dev/null || true
wait "$nats_pid" 2>/dev/null || true
nats_pid=""
finish
