# Shared set-up for the JetStream spool tests: a 3-node nats-server cluster on 127.0.0.1 started
# with tools/nats-cluster (and stopped on exit), and several carteiro nodes on it. Sourced after
# lib.sh and engine.sh; expects $nats_cluster (the tools/nats-cluster script).
#
# A test skips (exit 77) only when nats-server is not installed.
if ! command -v nats-server >/dev/null; then
  echo "SKIP: nats-server is not installed; the JetStream spool tests need it"
  exit 77
fi

cluster_dir=""
node_pids=()
stop_js() {
  for pid in "${node_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  if [ -n "$cluster_dir" ]; then "$nats_cluster" stop "$cluster_dir" || true; fi
  # CT_KEEP_LOGS=DIR keeps the nodes' logs and reports for a look after a failure.
  if [ -n "${CT_KEEP_LOGS:-}" ]; then mkdir -p "$CT_KEEP_LOGS" && cp "$T"/node-* "$CT_KEEP_LOGS"/; fi
  stop_all
}
trap stop_js EXIT

# start_cluster: 3 nodes; $urls = their client URLs.
start_cluster() {
  cluster_dir=$T/nats
  urls=$("$nats_cluster" start "$cluster_dir" --nodes 3)
}

# write_js_config [EXTRA [carteiro] LINES]: write_config, with the spool on the cluster
# (replicas 3, ack wait $ACK_WAIT or 30s).
write_js_config() {
  write_config "nats_replicas = 3
nats_ack_wait = ${ACK_WAIT:-30s}
${1:-}"
  sed -i "s|^spool = .*|spool = $urls|" "$T/carteiro.ini"
  # CLI commands know only the location: the settings that matter when they create the
  # streams go in its query string.
  export CARTEIRO_SPOOL="$urls?replicas=3"
}

# start_node I [RUN OPTIONS...]: carteiro node I in the background; its PID in node_pids[I],
# its report $T/node-I.out and log $T/node-I.log.
start_node() {
  local i=$1
  shift
  "$ct" run --config "$T/carteiro.ini" "$@" >"$T/node-$i.out" 2>"$T/node-$i.log" &
  node_pids[$i]=$!
}

# wait_node I SECONDS: waits for node I to exit by itself; fails the test and kills it after
# SECONDS. Sets $node_status.
wait_node() {
  local i=$1 limit=$(($(date +%s) + $2)) pid=${node_pids[$1]}
  while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$limit" ]; do sleep 0.1; done
  node_status=0
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    node_status=timeout
    fail "node $i did not finish within $2 s"
    tail -n 5 "$T/node-$i.log" | sed "s/^/  node $i: /" >&2
  fi
  wait "$pid" 2>/dev/null || node_status=$?
}

# js_stream_msgs STREAM: messages stored in STREAM, from a node's monitoring endpoint.
# A loaded node may not answer at once: asked up to 5 times, and a node that never answers
# fails the test by name (and gives -1) instead of ending it without a word under set -e.
js_stream_msgs() {
  local port out="" try
  port=$(($(cat "$cluster_dir/base-port") + 200))
  for try in 1 2 3 4 5; do
    out=$(curl -s --max-time 5 "http://127.0.0.1:$port/jsz?accounts=true&streams=true") && break
    out=""
    sleep 0.5
  done
  if [ -z "$out" ]; then
    fail "stream $1: no answer from the monitoring port $port"
    echo -1
    return 0
  fi
  jq -r --arg s "$1" '[.account_details[]?.stream_detail[]? | select(.name == $s) | .state.messages] | first // 0' <<<"$out"
}

# node_report I FIELD: a field of node I's --report line.
node_report() { jq -r "$2" "$T/node-$1.out"; }
