#!/usr/bin/env bash
# Soak benchmark: carteiro under a sustained load for a long time, with the bad days of
# production on a schedule, then an exact account of every job.
#
#   - a producer posts SMS invoice jobs (tools/gen-invoices, unique ids inv-00000001...) to
#     POST /v1/jobs at a steady rate, in batches, retrying a batch until it is acknowledged
#     (202) like a billing platform would. The rate is meant to be above what the daemon
#     delivers, so that it always has work: the spool's high-water mark (--backlog READY
#     jobs, the daemon's spool_high_water) then answers 503 and holds the backlog there, and
#     the producer waits as a billing platform would. A prefill starts the backlog;
#   - the mock provider answers with a log-normal latency and a share of transient faults:
#     by default half 5xx, half HTTP/2 stream resets (--fault-mix adds 429s and connection
#     drops: a random 429 halves the account's concurrency cap by design, so even 0.2 % of
#     them hold it near 30 and the run measures the AIMD, not a sustained load; a drop ends
#     every stream of an HTTP/2 connection at once);
#   - carteiro is killed with SIGKILL every --kill-every seconds and started again at once
#     (systemd's Restart=always); the kills stop one interval before the end, so the last life
#     is as long as the others;
#   - once, the provider goes down for --outage seconds (the mock's POST /outage: connections
#     cut, new ones refused, the mock's counters and message keys kept across it);
#   - at the end the producer stops, the daemon drains what is left and is stopped with
#     SIGTERM, and the spool and the mock are read.
#
# Criteria (each a line of the summary; the exit status is 1 when one fails):
#   lost         acknowledged jobs neither delivered nor dead in the spool after the drain: 0
#                (the summary says how many of them are still READY, how many missing)
#   dead         dead letters, whatever the reason (no permanent fault is injected, so any
#                dead letter is a defect; those of the outage are max_attempts): 0
#   duplicates   messages the mock accepted more than once (duplicates_accepted) <=
#                sum over the daemon's lives of its `unanswered` requests + max_inflight per
#                kill -9. README's delivery contract: a request whose answer never arrived
#                is sent again and counted `unanswered`; a kill -9 re-sends only what was in
#                flight, at most max_inflight messages (one message per SMS job). A killed
#                life's counters are those of its last /metrics scrape, taken just before the
#                kill; the last life's are from its --report.
#   rss          in every life long enough, the highest RSS of its last --rss-window seconds
#                (60) within --rss-growth % (10) of the highest RSS of the window right after
#                its --warmup (120 s); at least one such life. RSS follows the jobs in memory,
#                which swing between max_inflight and max_inflight - take_batch as takes
#                refill them and fall to nothing in an outage, so each window's highest
#                sample is compared, among samples with at least half of max_inflight in
#                flight (at least two in each window). Same life, same process: a restart
#                starts a new process, so only a within-life comparison says whether memory
#                grows.
#   integrity    PRAGMA integrity_check of the spool after the stop: ok
#   crashes      lives that ended without our SIGKILL: 0; the final SIGTERM stop exits 0
#   seen         every job the spool says delivered was accepted by the mock (unique keys)
#
# usage: bench/soak.sh [--build DIR] [--duration S] [--rate JOBS_PER_S] [--batch N]
#          [--prefill N] [--backlog N] [--kill-every S] [--outage-at S] [--outage S] [--faults X]
#          [--fault-mix server_error=W,rate_limit=W,reset=W,drop=W] [--reject X]
#          [--latency MS|P50/P99]
#          [--workers N] [--max-inflight N] [--connections N] [--warmup S] [--rss-window S]
#          [--rss-growth PCT] [--drain-timeout S] [--sample S] [--seed N] [--out FILE.json]
#          [--set 'KEY = VALUE']... [--provider-set 'KEY = VALUE']... [--keep]
# --reject X refuses that share of recipients for good (the mock's reject): those jobs end dead,
# so the `dead` criterion fails; it is there to check the harness, not the daemon.
# --set adds a line to the daemon's [carteiro] section, --provider-set to [provider.sms]
# (e.g. --set 'max_attempts = 4' --provider-set 'breaker_cooldown = 1s'); without them the
# engine's knobs keep their production defaults.
# Defaults are the 30-minute soak: --duration 1800 --rate 3000 --backlog 100000 --kill-every 300
# --outage-at 750 --outage 60 --faults 0.02 --warmup 120. A 3-minute version:
#   bench/soak.sh --duration 180 --kill-every 60 --outage-at 75 --outage 20 --warmup 20 \
#     --rss-window 15
# --kill-every 0 or --outage 0 leaves that part out; --rss-window 0 leaves the RSS criterion
# out (null in the summary, not counted in PASS), for runs too short to judge memory. Prints
# progress on stderr, the JSON summary on stdout (and in --out), then a short human summary on
# stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/release duration=1800 rate=3000 batch=5000 prefill="" backlog=100000 kill_every=300
outage_at=750 outage_s=60 faults=0.02 mix="server_error=50,reset=50"
latency=20/100 workers=2 inflight=2000 connections=4 warmup=120 rss_growth=10 rss_window=60
drain_timeout=900 sample_s=5 seed=1 out="" keep=0 reject=0
sets=() psets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --prefill) prefill=$2; shift 2 ;;
    --backlog) backlog=$2; shift 2 ;;
    --kill-every) kill_every=$2; shift 2 ;;
    --outage-at) outage_at=$2; shift 2 ;;
    --outage) outage_s=$2; shift 2 ;;
    --faults) faults=$2; shift 2 ;;
    --fault-mix) mix=$2; shift 2 ;;
    --reject) reject=$2; shift 2 ;;
    --latency) latency=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --max-inflight) inflight=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --rss-growth) rss_growth=$2; shift 2 ;;
    --rss-window) rss_window=$2; shift 2 ;;
    --drain-timeout) drain_timeout=$2; shift 2 ;;
    --sample) sample_s=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --set) sets+=("$2"); shift 2 ;;
    --provider-set) psets+=("$2"); shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 64 ;;
  esac
done
for v in duration rate batch backlog kill_every outage_at outage_s workers inflight connections warmup \
         rss_window rss_growth drain_timeout sample_s seed; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "soak.sh: --${v//_/-} must be a whole number" >&2; exit 64; }
done
[ -n "$prefill" ] || prefill=$((rate * 30 < backlog ? rate * 30 : backlog)) # half a minute of work
[[ $prefill =~ ^[0-9]+$ ]] || { echo "soak.sh: --prefill must be a whole number" >&2; exit 64; }
[ "$rate" -gt 0 ] && [ "$batch" -gt 0 ] && [ "$batch" -le 10000 ] ||
  { echo "soak.sh: --rate > 0 and --batch 1..10000" >&2; exit 64; }
[ $((prefill + rate * (duration + 60))) -lt 99999999 ] ||
  { echo "soak.sh: more jobs than 8-digit ids" >&2; exit 64; }
bin=$build/bin
for p in carteiro gen-invoices mock-provider; do
  [ -x "$bin/$p" ] || { echo "soak.sh: $bin/$p missing; build first" >&2; exit 66; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/carteiro-soak.XXXXXX")
mock_pid="" ct_pid="" enq_pid=""
cleanup() {
  for p in $enq_pid $ct_pid $mock_pid; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$keep" = 1 ]; then echo "soak.sh: kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT

now() { local t=${EPOCHREALTIME/./}; NOW=$((t / 1000)); } # ms, no fork
log() { now; printf 'soak %6.1fs %s\n' "$(((NOW - T0) / 1000)).$((((NOW - T0) % 1000) / 100))" "$*" >&2; }
now
T0=$NOW

# ---- the mock -----------------------------------------------------------------------------
SID=AC0123456789abcdef0123456789abcdef
tools/gen-test-ca "$T/ca" >/dev/null
# --fault-mix weights the total --faults between the fault kinds
fault_args=()
wsum=0
IFS=, read -r -a mix_items <<<"$mix"
for it in "${mix_items[@]}"; do
  [[ $it =~ ^(server_error|rate_limit|reset|drop)=([0-9]+)$ ]] ||
    { echo "soak.sh: --fault-mix: expected NAME=WEIGHT with NAME server_error, rate_limit, reset or drop" >&2; exit 64; }
  wsum=$((wsum + BASH_REMATCH[2]))
done
for it in "${mix_items[@]}"; do
  w=${it#*=}
  [ "$w" -gt 0 ] || continue
  fault_args+=(--fault "twilio.${it%=*}=$(awk -v f="$faults" -v w="$w" -v s="$wsum" 'BEGIN { printf "%.6f", f * w / s }')")
done
[ "$reject" = 0 ] || fault_args+=(--fault "twilio.reject=$reject")
"$bin/mock-provider" --cert "$T/ca/server.crt" --key "$T/ca/server.key" --port 0 \
  --port-file "$T/mock.port" --twilio-account "$SID:tw" --seed "$seed" \
  --max-keys 16777216 --records 1024 --latency "twilio=$latency" "${fault_args[@]}" \
  >"$T/mock.out" 2>"$T/mock.err" &
mock_pid=$!
for _ in $(seq 200); do [ -s "$T/mock.port" ] && break; sleep 0.05; done
[ -s "$T/mock.port" ] || { echo "soak.sh: the mock did not start" >&2; cat "$T/mock.err" >&2; exit 1; }
mock=https://127.0.0.1:$(cat "$T/mock.port")
mock_get() { curl -sS --max-time 20 --cacert "$T/ca/ca.crt" "$mock$1"; }
mock_post() { curl -sS --max-time 20 --cacert "$T/ca/ca.crt" -X POST -d "$2" "$mock$1"; }

# ---- carteiro -----------------------------------------------------------------------------
printf 'tw\n' >"$T/tw"
printf 'soak-token\n' >"$T/http.token"
chmod 600 "$T/tw" "$T/http.token"
# write_config PORT: the daemon's configuration; the engine's knobs (max_attempts, backoff,
# breaker, request_timeout, shutdown_grace, receipt_retention) keep their production defaults.
write_config() {
  cat >"$T/carteiro.ini" <<INI
[carteiro]
spool = $T/spool.db
workers = $workers
max_inflight = $inflight
ca_file = $T/ca/ca.crt
document_root = $T/docs
log_level = info
http_listen = 127.0.0.1:$1
http_token_file = $T/http.token
spool_high_water = $backlog
[provider.sms]
kind = sms
base_url = $mock
account = $SID
sender = +5511300000000
secret_file = $T/tw
max_concurrency = $inflight
max_connections = $connections
INI
  # --set and --provider-set lines go at the end of their section (a key given twice: the last
  # one counts)
  if [ ${#sets[@]} -gt 0 ] || [ ${#psets[@]} -gt 0 ]; then
    awk -v s="$(printf '%s\n' "${sets[@]}")" -v p="$(printf '%s\n' "${psets[@]}")" '
      /^\[provider\.sms\]$/ && s != "" { print s } { print } END { if (p != "") print p }' \
      "$T/carteiro.ini" >"$T/carteiro.ini.tmp"
    mv "$T/carteiro.ini.tmp" "$T/carteiro.ini"
  fi
}
write_config 0
mkdir -p "$T/docs"

api_port=0
life=0
declare -a life_start life_end life_how life_unans life_infl life_cpu life_up_ms
# metrics_of FILE: "unanswered inflight_jobs delivered ready concurrency_limit breaker_state"
metrics_of() {
  awk '/^carteiro_provider_unanswered_requests_total/ { u += $NF }
       /^carteiro_inflight_jobs / { i = $NF }
       /^carteiro_jobs_delivered_total/ { d += $NF }
       /^carteiro_spool_jobs\{state="ready"\}/ { r = $NF }
       /^carteiro_provider_concurrency_limit\{provider="sms"\}/ { c = $NF }
       /^carteiro_provider_breaker_state\{provider="sms"\}/ { b = $NF }
       END { printf "%d %d %d %d %.0f %d\n", u, i, d, r, c, b }' "$1"
}
scrape() { # scrape: /metrics of the running life into $T/metrics.<life>; 1 when it failed
  curl -s --max-time 5 -o "$T/metrics.tmp" "http://127.0.0.1:$api_port/metrics" &&
    grep -q '^carteiro_inflight_jobs ' "$T/metrics.tmp" &&
    mv "$T/metrics.tmp" "$T/metrics.$life"
}
# rss_kb PID: its VmRSS (kB) into RSS; cpu_ticks PID: its user + system ticks into CPU; 0 when
# it is gone. Both read /proc with builtins: on a loaded machine every process started makes a
# sample later, and the RSS windows need samples.
rss_kb() {
  local k v
  RSS=0
  while read -r k v _; do
    if [ "$k" = VmRSS: ]; then RSS=$v; break; fi
  done 2>/dev/null <"/proc/$1/status" || true
}
cpu_ticks() {
  local f
  CPU=0
  if read -r -a f 2>/dev/null <"/proc/$1/stat"; then CPU=$((f[13] + f[14])); fi
}
busy=$((inflight / 2)) # a sample with this many jobs in flight counts for RSS

start_life() {
  life=$((life + 1))
  now
  local t_start=$NOW
  "$bin/carteiro" run --config "$T/carteiro.ini" --report >"$T/report.$life.json" \
    2>"$T/run.$life.log" &
  ct_pid=$!
  life_start[$life]=$t_start life_how[$life]="running" life_unans[$life]=0 life_infl[$life]=0
  life_cpu[$life]=0
  if [ "$api_port" = 0 ]; then
    for _ in $(seq 600); do
      grep -q 'http: listening on 127.0.0.1:' "$T/run.$life.log" 2>/dev/null && break
      kill -0 "$ct_pid" 2>/dev/null || break
      sleep 0.05
    done
    api_port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.$life.log" | head -1 |
      sed 's/.*://') || true
    [ -n "$api_port" ] || { echo "soak.sh: carteiro did not start" >&2; tail "$T/run.$life.log" >&2; exit 1; }
    write_config "$api_port" # later lives listen where the producer posts
  fi
  for _ in $(seq 1200); do
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$api_port/healthz" && break
    kill -0 "$ct_pid" 2>/dev/null || break
    sleep 0.05
  done
  now
  life_up_ms[$life]=$((NOW - t_start))
  log "life $life: carteiro pid $ct_pid answering after ${life_up_ms[$life]} ms"
}

# end_life HOW: records the life's last figures; HOW is killed, crashed or stopped.
end_life() {
  now
  life_end[$life]=$NOW life_how[$life]=$1
  if [ -s "$T/metrics.$life" ]; then
    read -r u i _ _ _ _ < <(metrics_of "$T/metrics.$life")
    life_unans[$life]=$u life_infl[$life]=$i
  fi
}

# ---- the producer ---------------------------------------------------------------------------
# Runs in a subshell: batch b holds jobs prefill+b*batch+1 ... on the schedule T0 + b*batch/rate;
# a batch not acknowledged (carteiro restarting, 503) is posted again until it is. The next
# batch is generated while this one is posted. One line per acknowledged batch in
# enqueued.log: first id number, count, accepted, duplicates, ms since the start, ms the
# acknowledged POST took.
gen_batch() { # gen_batch B: batch B into batch.<B mod 2>.pbs.zst
  "$bin/gen-invoices" --count "$batch" --start-id $((prefill + $1 * batch + 1)) --seed "$seed" \
    --channels sms --format pbs --zstd --out "$T/batch.$(($1 % 2)).pbs.zst" 2>>"$T/producer.err"
}
producer() {
  local b=0 k target out code took gen_pid
  gen_batch 0
  while :; do
    now
    [ "$NOW" -lt "$END" ] || break
    target=$((T0 + b * batch * 1000 / rate))
    if [ "$NOW" -lt "$target" ]; then
      sleep "$(((target - NOW) / 1000)).$(printf '%03d' $(((target - NOW) % 1000)))"
    fi
    k=$((prefill + b * batch + 1))
    gen_batch $((b + 1)) &
    gen_pid=$!
    while :; do
      out=$(curl -s -o "$T/batch.reply" -w '%{http_code} %{time_total}' --max-time 30 -X POST \
        -H 'Authorization: Bearer soak-token' -H 'Content-Type: application/x-protobuf' \
        -H 'X-Carteiro-Batch: delimited' -H 'Content-Encoding: zstd' \
        --data-binary @"$T/batch.$((b % 2)).pbs.zst" "http://127.0.0.1:$api_port/v1/jobs" \
        2>/dev/null) || true
      code=${out%% *} took=${out#* }
      now
      if [ "$code" = 202 ]; then
        read -r acc dup < <(jq -r '"\(.accepted) \(.duplicates)"' "$T/batch.reply")
        [ $((acc + dup)) = "$batch" ] || echo "batch $k: $acc accepted + $dup duplicates of $batch" >>"$T/producer.err"
        echo "$k $batch $acc $dup $((NOW - T0)) $(awk -v t="$took" 'BEGIN { printf "%.0f", t * 1000 }')" >>"$T/enqueued.log"
        break
      fi
      echo "$((NOW - T0)) ${code:-000}" >>"$T/refused.log"
      [ "$NOW" -lt $((END + 60000)) ] || { wait "$gen_pid" || true; return 0; } # not acknowledged: not counted
      sleep 0.2
    done
    wait "$gen_pid" || true
    b=$((b + 1))
  done
}

# ---- run --------------------------------------------------------------------------------------
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
log "prefill: $prefill jobs"
if [ "$prefill" -gt 0 ]; then
  "$bin/gen-invoices" --count "$prefill" --start-id 1 --seed "$seed" --channels sms --format pbs \
    --zstd --out "$T/prefill.pbs.zst"
  "$bin/carteiro" enqueue --quiet --spool "$T/spool.db" "$T/prefill.pbs.zst"
fi
: >"$T/enqueued.log"
: >"$T/samples.log"
: >"$T/refused.log"
now
T0=$NOW END=$((T0 + duration * 1000))
start_life
producer &
enq_pid=$!

kills_done=0 outage_done=0 outage_start_s=-1 outage_end_s=-1 next_sample=0
# kills at k * kill_every for k = 1..nkills: the last one at least one interval before the end
nkills=0
if [ "$kill_every" -gt 0 ] && [ "$duration" -ge $((2 * kill_every)) ]; then
  nkills=$((duration / kill_every - 1))
fi
while :; do
  now
  t=$((NOW - T0))
  [ "$t" -lt $((duration * 1000)) ] || break
  # an exit we did not cause: a crash; restart like systemd would
  if ! kill -0 "$ct_pid" 2>/dev/null; then
    st=0; { wait "$ct_pid"; } 2>/dev/null || st=$?
    end_life "crashed($st)"
    log "life $life: carteiro exited by itself with status $st"
    start_life
  fi
  if [ "$outage_s" -gt 0 ] && [ "$outage_done" = 0 ] && [ "$t" -ge $((outage_at * 1000)) ]; then
    r=$(mock_post /outage "{\"seconds\": $outage_s}" 2>&1 || true)
    outage_done=1 outage_start_s=$((t / 1000)) outage_end_s=$((t / 1000 + outage_s))
    log "provider outage for ${outage_s}s: $r"
  fi
  if [ "$nkills" -gt 0 ] && [ "$kills_done" -lt "$nkills" ] &&
     [ "$t" -ge $(((kills_done + 1) * kill_every * 1000)) ]; then
    scrape || true
    rss_kb "$ct_pid"
    cpu_ticks "$ct_pid"
    rss=$RSS cpu=$CPU
    kill -KILL "$ct_pid"
    st=0; { wait "$ct_pid"; } 2>/dev/null || st=$?
    kills_done=$((kills_done + 1))
    end_life killed
    life_cpu[$life]=$cpu
    log "kill -9 #$kills_done of life $life (exit $st): in flight ${life_infl[$life]}, unanswered ${life_unans[$life]}, RSS $((rss / 1024)) MiB"
    start_life
  fi
  if [ "$t" -ge "$next_sample" ]; then
    next_sample=$((t + sample_s * 1000))
    age=$(((NOW - life_start[life]) / 1000))
    rss_kb "$ct_pid"
    cpu_ticks "$ct_pid"
    rss=$RSS
    if scrape; then
      read -r u i d r cl br < <(metrics_of "$T/metrics.$life")
    else
      u=-1 i=-1 d=-1 r=-1 cl=-1 br=-1
    fi
    mk=$(mock_get /stats 2>/dev/null | jq -r '.endpoints.twilio_messages | "\(.outcomes.ok) \(.duplicates_accepted)"' 2>/dev/null) || true
    echo "$((t / 1000)) $life $age $rss $CPU $d $u $i $r ${mk:--1 -1} $cl $br" >>"$T/samples.log"
    if [ $(((t / 1000) % 60)) -lt "$sample_s" ]; then
      log "life $life age ${age}s: RSS $((rss / 1024)) MiB, delivered $d (this life), in flight $i, ready $r, unanswered $u"
    fi
  fi
  sleep 0.25
done

# ---- drain and stop ----------------------------------------------------------------------------
log "soak over; waiting for the producer"
wait "$enq_pid" || true
enq_pid=""
log "draining (at most ${drain_timeout}s)"
now
drain_start=$NOW quiet=0
while :; do
  now
  [ $((NOW - drain_start)) -lt $((drain_timeout * 1000)) ] || { log "drain timeout"; break; }
  if ! kill -0 "$ct_pid" 2>/dev/null; then
    st=0; { wait "$ct_pid"; } 2>/dev/null || st=$?
    end_life "crashed($st)"
    log "life $life: carteiro exited by itself with status $st during the drain"
    start_life
  fi
  if scrape; then
    read -r _ i _ r _ _ < <(metrics_of "$T/metrics.$life")
    if [ "$i" = 0 ] && [ "$r" = 0 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    [ "$quiet" -lt 3 ] || break # three scrapes a second apart with nothing ready or in flight
  fi
  sleep 1
done
now
drain_s=$(((NOW - drain_start) / 1000))
log "drained in ${drain_s}s; SIGTERM"
cpu_ticks "$ct_pid"
life_cpu[$life]=$CPU
kill -TERM "$ct_pid"
stop_status=0
wait "$ct_pid" || stop_status=$?
end_life stopped
ct_pid=""
if [ -s "$T/report.$life.json" ]; then
  life_unans[$life]=$(jq -r '[.unanswered[]] | add // 0' "$T/report.$life.json")
fi

# ---- the account ----------------------------------------------------------------------------------
mock_get /stats >"$T/mock.stats.json"
kill -TERM "$mock_pid" 2>/dev/null || true
wait "$mock_pid" 2>/dev/null || true
mock_pid=""

acked=$((prefill + $(awk '{ n += $2 } END { print n + 0 }' "$T/enqueued.log")))
last_id=$(printf 'inv-%08d' "$acked")
db=$T/spool.db
sq() { sqlite3 -readonly "$db" "$1"; }
integrity=$(sq 'PRAGMA integrity_check;' | tr '\n' ' ' | sed 's/ $//')
read -r a_deliv a_dead a_ready < <(sq "SELECT coalesce(sum(state = 2), 0), coalesce(sum(state = 3), 0),
  coalesce(sum(state = 0), 0) FROM job WHERE id BETWEEN 'inv-00000001' AND '$last_id';" | tr '|' ' ')
read -r all_jobs all_deliv all_dead < <(sq "SELECT count(*), coalesce(sum(state = 2), 0),
  coalesce(sum(state = 3), 0) FROM job;" | tr '|' ' ')
lost=$((acked - a_deliv - a_dead)) # still READY (a drain that timed out) or not in the spool
missing=$((lost - a_ready))
"$bin/carteiro" spool stats --json --spool "$db" >"$T/spool.stats.json"
dead_by_reason=$(jq -c '.dead_by_reason // {}' "$T/spool.stats.json")
tw='.endpoints.twilio_messages'
read -r m_req m_ok m_unique m_dups m_dups_acc < <(jq -r "$tw | \"\(.requests) \(.outcomes.ok) \(.unique_keys) \(.duplicates) \(.duplicates_accepted)\"" "$T/mock.stats.json")
m_outcomes=$(jq -c "$tw.outcomes" "$T/mock.stats.json")
m_untracked=$(jq -r .keys.untracked "$T/mock.stats.json")
m_outages=$(jq -r '.outages // 0' "$T/mock.stats.json")

unans_total=0 crashes=0
for ((l = 1; l <= life; l++)); do
  unans_total=$((unans_total + life_unans[l]))
  case "${life_how[$l]}" in crashed*) crashes=$((crashes + 1)) ;; esac
done
abrupt=$((kills_done + crashes))
bound_contract=$((unans_total + abrupt * inflight))
infl_at_kills=0
for ((l = 1; l <= life; l++)); do
  case "${life_how[$l]}" in killed|crashed*) infl_at_kills=$((infl_at_kills + life_infl[l])) ;; esac
done
bound_tight=$((unans_total + infl_at_kills))

# RSS, from the samples: per life "warm_kb warm_n end_kb end_n last_age" (0s when the life is
# too short for two windows apart)
rss_of_life() {
  awk -v L="$1" -v w="$warmup" -v W="$rss_window" -v b="$busy" '
    $2 == L { n++; age[n] = $3; rss[n] = $4; infl[n] = $8; if ($3 > last) last = $3 }
    END {
      if (last - W < w + W) { print "0 0 0 0", last + 0; exit }
      for (i = 1; i <= n; i++) {
        if (infl[i] < b) continue
        if (age[i] >= w && age[i] < w + W) { wn++; if (rss[i] > wk) wk = rss[i] }
        if (age[i] > last - W) { en++; if (rss[i] > ek) ek = rss[i] }
      }
      print wk + 0, wn + 0, ek + 0, en + 0, last + 0
    }' "$T/samples.log"
}
rss_ok=true rss_checked=0 rss_worst=0
declare -a life_rss
for ((l = 1; l <= life; l++)); do
  read -r wk wn ek en la < <(rss_of_life "$l")
  life_rss[$l]="\"rss_warm_kb\":$wk,\"rss_warm_samples\":$wn,\"rss_end_kb\":$ek,\"rss_end_samples\":$en,\"last_sample_age_s\":$la"
  [ "$rss_window" -gt 0 ] && [ "$wn" -ge 2 ] && [ "$en" -ge 2 ] || continue
  rss_checked=$((rss_checked + 1))
  g=$(awk -v w="$wk" -v e="$ek" 'BEGIN { printf "%.1f", (e - w) * 100 / w }')
  life_rss[$l]+=",\"rss_growth_pct\":$g"
  awk -v g="$g" -v m="$rss_worst" 'BEGIN { exit !(g > m) }' && rss_worst=$g
  awk -v g="$g" -v lim="$rss_growth" 'BEGIN { exit !(g > lim) }' && rss_ok=false
done
[ "$rss_checked" -gt 0 ] || rss_ok=false
[ "$rss_window" -gt 0 ] || rss_ok=null # --rss-window 0: not judged, and not counted in PASS
lives_json=""
for ((l = 1; l <= life; l++)); do
  lives_json+="${lives_json:+,}{\"life\":$l,\"start_s\":$(((life_start[l] - T0) / 1000)),\"end_s\":$(((life_end[l] - T0) / 1000)),\"how\":\"${life_how[$l]}\",\"up_ms\":${life_up_ms[$l]},\"unanswered\":${life_unans[$l]},\"inflight_jobs_at_end\":${life_infl[$l]},\"cpu_ticks\":${life_cpu[$l]},${life_rss[$l]}}"
done

tick=$(getconf CLK_TCK)
cpu_total=0
for ((l = 1; l <= life; l++)); do cpu_total=$((cpu_total + life_cpu[l])); done
verdict() { if eval "$1"; then echo true; else echo false; fi; }
c_lost=$(verdict "[ $lost -eq 0 ]")
c_dead=$(verdict "[ $all_dead -eq 0 ]")
c_dups=$(verdict "[ $m_dups_acc -le $bound_contract ]")
c_integrity=$(verdict "[ '$integrity' = ok ]")
c_crashes=$(verdict "[ $crashes -eq 0 ] && [ $stop_status -eq 0 ]")
c_seen=$(verdict "[ $m_unique -eq $all_deliv ] && [ $m_untracked -eq 0 ]")
pass=true
for c in "$c_lost" "$c_dead" "$c_dups" "$rss_ok" "$c_integrity" "$c_crashes" "$c_seen"; do
  [ "$c" = true ] || [ "$c" = null ] || pass=false
done

summary=$(jq -cn \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg commit "$commit" \
  --argjson p "{\"duration_s\":$duration,\"rate\":$rate,\"batch\":$batch,\"prefill\":$prefill,\"kill_every_s\":$kill_every,\"outage_at_s\":$outage_at,\"outage_s\":$outage_s,\"faults\":$faults,\"fault_mix\":\"$mix\",\"latency_ms\":\"$latency\",\"workers\":$workers,\"max_inflight\":$inflight,\"connections\":$connections,\"warmup_s\":$warmup,\"rss_window_s\":$rss_window,\"rss_growth_pct\":$rss_growth,\"seed\":$seed}" \
  --argjson jobs "{\"acknowledged\":$acked,\"delivered\":$a_deliv,\"dead\":$a_dead,\"ready\":$a_ready,\"lost\":$lost,\"missing\":$missing,\"in_spool\":$all_jobs,\"spool_delivered\":$all_deliv,\"spool_dead\":$all_dead}" \
  --argjson dead_by_reason "$dead_by_reason" \
  --argjson mock "{\"requests\":$m_req,\"ok\":$m_ok,\"unique_keys\":$m_unique,\"duplicates\":$m_dups,\"duplicates_accepted\":$m_dups_acc,\"untracked_keys\":$m_untracked,\"outages\":$m_outages,\"outcomes\":$m_outcomes}" \
  --argjson dup "{\"duplicates_accepted\":$m_dups_acc,\"unanswered_all_lives\":$unans_total,\"abrupt_ends\":$abrupt,\"bound\":$bound_contract,\"inflight_jobs_at_kills\":$infl_at_kills,\"tight_bound\":$bound_tight}" \
  --argjson lives "[$lives_json]" \
  --argjson run "{\"kills\":$kills_done,\"crashes\":$crashes,\"stop_status\":$stop_status,\"outage_from_s\":$outage_start_s,\"outage_to_s\":$outage_end_s,\"drain_s\":$drain_s,\"deliveries_per_s\":$(awk -v d="$all_deliv" -v s="$((duration + drain_s))" 'BEGIN { printf "%.0f", d / s }'),\"cpu_us_per_delivery\":$(awk -v c="$cpu_total" -v t="$tick" -v d="$all_deliv" 'BEGIN { printf "%.0f", (d > 0 ? c * 1e6 / t / d : 0) }'),\"ingest_refusals\":$(awk '{ n[$2]++ } END { printf "{"; for (c in n) printf "%s\"%s\":%d", (k++ ? "," : ""), c, n[c]; printf "}" }' "$T/refused.log"),\"post_ms_p50_p99\":[$(awk '{ print $6 }' "$T/enqueued.log" | sort -n | awk '{ a[NR] = $1 } END { if (NR) { q = int(NR * 0.99); printf "%d,%d", a[int((NR + 1) / 2)], a[(q > 0 ? q : 1)] } else printf "0,0" }')],\"accepted_per_s\":$(awk -v a="$acked" -v p="$prefill" -v d="$duration" 'BEGIN { printf "%.0f", (a - p) / d }'),\"busy_samples_pct\":$(awk -v b="$busy" '$8 >= 0 { n++; if ($8 >= b) k++ } END { printf "%.0f", n ? k * 100 / n : 0 }' "$T/samples.log")}" \
  --argjson criteria "{\"lost\":$c_lost,\"dead\":$c_dead,\"duplicates\":$c_dups,\"rss\":$rss_ok,\"integrity\":$c_integrity,\"crashes\":$c_crashes,\"seen\":$c_seen}" \
  --arg integrity "$integrity" --argjson rss_worst "$rss_worst" --argjson pass "$pass" \
  '{date: $date, commit: $commit, params: $p, jobs: $jobs, dead_by_reason: $dead_by_reason,
    mock: $mock, duplicates: $dup, lives: $lives, run: $run, integrity: $integrity,
    rss_worst_growth_pct: $rss_worst, criteria: $criteria, pass: $pass}')
echo "$summary"
[ -z "$out" ] || echo "$summary" >"$out"
# the samples: seconds, life, age, RSS kB, CPU ticks, delivered, unanswered, in flight, ready
# (the life's /metrics), messages accepted, duplicates accepted (the mock's; -1 during the
# outage), the SMS account's concurrency cap and breaker state (0 closed, 1 open, 2 half open)
[ -z "$out" ] || cp "$T/samples.log" "${out%.json}.samples.tsv"

{
  echo "---- soak: ${duration}s at $rate jobs/s, $kills_done kill -9, outage ${outage_s}s at ${outage_at}s ($commit)"
  echo "jobs acknowledged $acked: delivered $a_deliv, dead $a_dead, lost $lost (still ready $a_ready, not in the spool $missing)"
  echo "dead letters by reason: $dead_by_reason"
  echo "duplicates accepted by the mock $m_dups_acc <= bound $bound_contract (unanswered $unans_total + $abrupt x max_inflight $inflight); tight bound $bound_tight"
  for ((l = 1; l <= life; l++)); do
    jq -r --argjson l "{${life_rss[$l]}}" -n '"RSS " + (if $l.rss_growth_pct then "\($l.rss_warm_kb / 1024 | floor) MiB after warm-up -> \($l.rss_end_kb / 1024 | floor) MiB at the end (\($l.rss_growth_pct) %)" else "not judged (life too short, or too few busy samples)" end)' |
      sed "s/^/life $l (${life_how[$l]}, ${life_up_ms[$l]} ms to answer, unanswered ${life_unans[$l]}): /"
  done
  echo "integrity_check: $integrity; crashes $crashes; stop status $stop_status; drain ${drain_s}s"
  echo "criteria: lost=$c_lost dead=$c_dead duplicates=$c_dups rss=$rss_ok integrity=$c_integrity crashes=$c_crashes seen=$c_seen"
  echo "PASS: $pass"
} >&2
[ "$pass" = true ]
