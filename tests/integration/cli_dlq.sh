#!/usr/bin/env bash
# carteiro dlq end to end: list with filters, show, stats, replay (dry run, confirmation, --yes,
# --rate, skipping fully delivered jobs unless --force), purge, export and import; dead letters
# are made by spool-fixture acting as the daemon. An export imported into a fresh spool exports
# to the same bytes, and a replay while `carteiro run` runs is delivered within a second.
# usage: cli_dlq.sh CARTEIRO GEN_INVOICES SPOOL_FIXTURE MOCK_PROVIDER GEN_TEST_CA
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 fixture=$3 mock=$4 gen_ca=$5
. "$(dirname "$0")/engine.sh"
export CARTEIRO_SPOOL="$T/spool.db"

"$gen" --count 30 --seed 21 --format jsonl --out "$T/a.jsonl"
"$ct" enqueue --quiet "$T/a.jsonl"
expect_eq "dead by fixture" 10 "$("$fixture" "$CARTEIRO_SPOOL" dead not_a_whatsapp_user whatsapp whatsapp:tim-1 10)"
expect_eq "dead by fixture" 5 "$("$fixture" "$CARTEIRO_SPOOL" dead deadline_exceeded sms sms:twilio 5)"
expect_eq "acked by fixture" 5 "$("$fixture" "$CARTEIRO_SPOOL" ack 5)"

stats=$("$ct" spool stats --json)
expect_eq "ready" 10 "$(jq -r .ready <<<"$stats")"
expect_eq "dead" 15 "$(jq -r .dead <<<"$stats")"
expect_eq "delivered" 5 "$(jq -r .delivered <<<"$stats")"
expect_eq "dead by reason" 10 "$(jq -r '.dead_by_reason.not_a_whatsapp_user' <<<"$stats")"

# stats: counts by reason, tenant, channel and provider of the last failure
expect_status "stats json" 0 "$ct" dlq stats --json
expect_eq "stats total" 15 "$(jq -r .total "$T/out")"
expect_eq "stats by reason" '{"not_a_whatsapp_user":10,"deadline_exceeded":5}' "$(jq -c .by_reason "$T/out")"
expect_eq "stats by channel" '{"whatsapp":10,"sms":5}' "$(jq -c .by_channel "$T/out")"
expect_eq "stats by provider" '{"whatsapp:tim-1":10,"sms:twilio":5}' "$(jq -c .by_provider "$T/out")"
expect_eq "stats by tenant sums" 15 "$(jq '[.by_tenant[]] | add' "$T/out")"
oldest=$("$ct" dlq list --json | jq -r '.[0].dead_at')
newest=$("$ct" dlq list --json | jq -r '.[-1].dead_at')
expect_eq "stats oldest" "$oldest" "$(jq -r .oldest_dead_at "$T/out")"
expect_eq "stats newest" "$newest" "$(jq -r .newest_dead_at "$T/out")"
expect_status "stats filtered" 0 "$ct" dlq stats --json --reason deadline_exceeded
expect_eq "stats filtered total" 5 "$(jq -r .total "$T/out")"
expect_eq "stats filtered tenants" 5 "$(jq '[.by_tenant[]] | add' "$T/out")"
expect_status "stats none" 0 "$ct" dlq stats --json --since 2999-01-01
expect_eq "stats none" '0 null {}' "$(jq -r '"\(.total) \(.oldest_dead_at) \(.by_reason)"' "$T/out")"
expect_status "stats table" 0 "$ct" dlq stats
expect_line "stats table total" "$T/out" "dead letters  15"
expect_line "stats table oldest" "$T/out" "oldest        $oldest"
expect_line "stats table reason" "$T/out" "$(printf '  %-38s %10s' not_a_whatsapp_user 10)"
expect_line "stats table provider" "$T/out" "$(printf '  %-38s %10s' sms:twilio 5)"
expect_status "stats empty table" 0 "$ct" dlq stats --reason nothing_like_it
expect_eq "stats empty table" "dead letters  0" "$(cat "$T/out")"
expect_status "rate on stats" 64 "$ct" dlq stats --rate 5/s

expect_status "list all" 0 "$ct" dlq list --json
expect_eq "list count" 15 "$(jq length "$T/out")"
expect_status "list by reason" 0 "$ct" dlq list --json --reason deadline_exceeded
expect_eq "by reason" 5 "$(jq length "$T/out")"
expect_eq "by reason channel" sms "$(jq -r '.[0].channel' "$T/out")"
expect_status "list by channel" 0 "$ct" dlq list --json --channel whatsapp
expect_eq "by channel" 10 "$(jq length "$T/out")"
expect_status "list by provider" 0 "$ct" dlq list --json --provider sms:twilio
expect_eq "by provider" 5 "$(jq length "$T/out")"
expect_status "list limit" 0 "$ct" dlq list --json --limit 3
expect_eq "limit" 3 "$(jq length "$T/out")"
expect_status "list since future" 0 "$ct" dlq list --json --since 2999-01-01
expect_eq "since future" 0 "$(jq length "$T/out")"
expect_status "list since 1h ago" 0 "$ct" dlq list --json --since 1h
expect_eq "since 1h" 15 "$(jq length "$T/out")"
expect_status "list table" 0 "$ct" dlq list --reason deadline_exceeded
expect_eq "table rows" 6 "$(wc -l <"$T/out")"
expect_status "bad channel" 64 "$ct" dlq list --channel fax
expect_status "bad since" 64 "$ct" dlq list --since yesterday

dead_id=$("$ct" dlq list --json --reason deadline_exceeded --limit 1 | jq -r '.[0].id')
expect_status "dlq show" 0 "$ct" dlq show --json "$dead_id"
expect_eq "show state" dead "$(jq -r .state "$T/out")"
expect_eq "show reason" deadline_exceeded "$(jq -r .reason "$T/out")"
expect_eq "show attempts" 1 "$(jq '.attempts | length' "$T/out")"
expect_eq "show attempt outcome" permanent "$(jq -r '.attempts[0].outcome' "$T/out")"

expect_status "replay dry run" 0 "$ct" dlq replay --dry-run --reason not_a_whatsapp_user
expect_line "dry run count" "$T/out" "would replay 10 dead letters"
expect_eq "dry run changed nothing" 15 "$("$ct" spool stats --json | jq -r .dead)"
expect_status "replay unattended" 64 sh -c "\"$ct\" dlq replay --reason not_a_whatsapp_user </dev/null"
expect_line "refusal" "$T/err" "carteiro dlq replay: refusing to replay 10 dead letters without --yes (no terminal to ask)"
expect_status "replay" 0 "$ct" dlq replay --yes --reason not_a_whatsapp_user --limit 4
expect_line "replayed" "$T/out" "replayed 4 dead letters"
stats=$("$ct" spool stats --json)
expect_eq "ready after replay" 14 "$(jq -r .ready <<<"$stats")"
expect_eq "dead after replay" 11 "$(jq -r .dead <<<"$stats")"

expect_status "purge" 0 "$ct" dlq purge --yes --reason deadline_exceeded
expect_line "purged" "$T/out" "purged 5 dead letters"
expect_eq "dead after purge" 6 "$("$ct" spool stats --json | jq -r .dead)"
expect_status "purged job gone" 66 "$ct" job show "$dead_id"
expect_status "empty list" 0 "$ct" dlq list --reason deadline_exceeded
expect_line "empty list text" "$T/out" "no dead letters match"

# replay --rate: 20 jobs at 10/s take at least 1.5 s, and all are replayed
rs="$T/rate.db"
"$gen" --count 20 --seed 22 --format jsonl --out "$T/r.jsonl"
CARTEIRO_SPOOL=$rs "$ct" enqueue --quiet "$T/r.jsonl"
expect_eq "rate dead" 20 "$("$fixture" "$rs" dead permanent_failure sms sms:twilio)"
expect_status "bad rate" 64 "$ct" dlq replay --spool "$rs" --yes --rate fast
expect_line "bad rate message" "$T/err" "carteiro dlq: --rate: 'fast' is not a rate like 50/s (1 to 1000000 jobs a second)"
expect_status "zero rate" 64 "$ct" dlq replay --spool "$rs" --yes --rate 0/s
# Job k is moved no sooner than k/10 s after the first, so 20 take at least 1.9 s whatever the
# load; a loaded machine may take longer, not twice as long. One second in, a sample of the
# spool must not show more than the rate allows by the time the sample was read.
t0=$(now_ms)
"$ct" dlq replay --spool "$rs" --yes --rate 10/s >"$T/rate.out" 2>"$T/rate.err" &
rate_pid=$!
sleep 1
mid_ready=$(CARTEIRO_SPOOL=$rs "$ct" spool stats --json | jq -r .ready)
t_mid=$(($(now_ms) - t0))
rate_rc=0
wait "$rate_pid" || rate_rc=$?
elapsed_ms=$(($(now_ms) - t0))
echo "replay of 20 at 10/s: ${elapsed_ms} ms ($((20000 / elapsed_ms)).$((200000 / elapsed_ms % 10)) jobs/s), ${mid_ready} moved after ${t_mid} ms"
expect_eq "replay at 10/s" 0 "$rate_rc"
expect_line "rate replayed" "$T/rate.out" "replayed 20 dead letters"
expect_eq "rate: 20 jobs took >= 1900 ms (${elapsed_ms} ms)" 1 "$((elapsed_ms >= 1900))"
expect_eq "rate: 20 jobs took < 3800 ms (${elapsed_ms} ms)" 1 "$((elapsed_ms < 3800))"
expect_eq "rate: ${mid_ready} moved within ${t_mid} ms, 1 to $((t_mid / 100 + 1))" 1 \
  "$((mid_ready >= 1 && mid_ready <= t_mid / 100 + 1))"
expect_eq "rate all ready" "20 0" "$(CARTEIRO_SPOOL=$rs "$ct" spool stats --json | jq -r '"\(.ready) \(.dead)"')"

# Dead jobs with every delivery accepted are skipped unless --force; partly delivered ones are
# replayed (only the missing parts go out).
fs="$T/force.db"
"$gen" --count 6 --seed 23 --channels email+sms --format jsonl --out "$T/f.jsonl"
CARTEIRO_SPOOL=$fs "$ct" enqueue --quiet "$T/f.jsonl"
expect_eq "fully delivered dead" 2 "$("$fixture" "$fs" delivered-dead permanent_failure all 2)"
expect_eq "partly delivered dead" 2 "$("$fixture" "$fs" delivered-dead permanent_failure some 2)"
expect_eq "undelivered dead" 2 "$("$fixture" "$fs" dead max_attempts sms sms:twilio 2)"
full_ids=$(CARTEIRO_SPOOL=$fs "$ct" dlq list --json --limit 2 | jq -r '[.[].id] | sort | join(" ")')
expect_status "force dry run" 0 "$ct" dlq replay --spool "$fs" --dry-run
expect_line "force dry run count" "$T/out" "would replay 4 dead letters"
expect_line "force dry run reason" "$T/out" "$(printf '  %-28s %s' max_attempts 2)"
expect_line "force dry run partial" "$T/out" "2 of them have parts already delivered; only the missing parts will be sent"
expect_line "force dry run skip" "$T/out" "would skip 2 dead letters already delivered on every delivery (replaying them would send duplicates; --force replays them anyway)"
expect_status "force dry run forced" 0 "$ct" dlq replay --spool "$fs" --dry-run --force
expect_line "forced dry run count" "$T/out" "would replay 6 dead letters"
expect_line "forced dry run partial" "$T/out" "2 of them have parts already delivered; only the missing parts will be sent"
expect_no_match "forced dry run skips nothing" "$T/out" "skip"
expect_status "force unattended" 64 sh -c "\"$ct\" dlq replay --spool \"$fs\" </dev/null"
expect_line "force refusal" "$T/err" "carteiro dlq replay: refusing to replay 4 dead letters without --yes (no terminal to ask)"
expect_status "replay skipping" 0 "$ct" dlq replay --spool "$fs" --yes
expect_line "replay skipping count" "$T/out" "replayed 4 dead letters"
expect_line "replay skipping reason" "$T/out" "skipped 2 dead letters already delivered on every delivery (--force replays them)"
expect_eq "skipped stay dead" "$full_ids" "$(CARTEIRO_SPOOL=$fs "$ct" dlq list --json | jq -r '[.[].id] | sort | join(" ")')"
expect_status "replay only skipped" 0 "$ct" dlq replay --spool "$fs" --yes
expect_line "replay only skipped count" "$T/out" "matching 0 dead letters"
expect_no_match "replay only skipped did nothing" "$T/out" "replayed"
expect_eq "still dead" 2 "$(CARTEIRO_SPOOL=$fs "$ct" spool stats --json | jq -r .dead)"
expect_status "replay forced" 0 "$ct" dlq replay --spool "$fs" --yes --force
expect_line "replay forced count" "$T/out" "replayed 2 dead letters"
expect_eq "forced none dead" "6 0" "$(CARTEIRO_SPOOL=$fs "$ct" spool stats --json | jq -r '"\(.ready) \(.dead)"')"
expect_status "force on purge" 64 "$ct" dlq purge --spool "$fs" --yes --force

# export -> import into a fresh spool: same ids, reasons and attempt counts; twice: all present
es="$T/exp.db" is="$T/imp.db"
"$gen" --count 12 --seed 24 --format jsonl --out "$T/e.jsonl"
CARTEIRO_SPOOL=$es "$ct" enqueue --quiet "$T/e.jsonl"
expect_eq "export dead 1" 8 "$("$fixture" "$es" dead not_a_whatsapp_user whatsapp whatsapp:tim-1 8)"
expect_eq "export dead 2" 4 "$("$fixture" "$es" dead deadline_exceeded sms sms:twilio)"
expect_status "export" 0 "$ct" dlq export --spool "$es" "$T/dl.pbs.zst"
expect_line "export count" "$T/out" "exported 12 dead letters to $T/dl.pbs.zst"
expect_eq "export is zstd" "28b52ffd" "$(head -c 4 "$T/dl.pbs.zst" | od -An -tx1 | tr -d ' \n')"
expect_eq "export mode" 600 "$(stat -c %a "$T/dl.pbs.zst")"
expect_status "export filtered" 0 "$ct" dlq export --spool "$es" "$T/dl4.pbs.zst" --reason deadline_exceeded
expect_line "export filtered count" "$T/out" "exported 4 dead letters to $T/dl4.pbs.zst"
expect_status "export bad name" 64 "$ct" dlq export --spool "$es" "$T/dl.jsonl"
expect_status "export no file" 64 "$ct" dlq export --spool "$es"
expect_status "import" 0 "$ct" dlq import --spool "$is" "$T/dl.pbs.zst"
expect_line "import count" "$T/out" "imported 12 dead letters, 0 already present (skipped)"
summary='[.[] | [.id, .reason, .attempts, .channel, .provider, .dead_at]] | sort'
expect_eq "imported same dead letters" "$(CARTEIRO_SPOOL=$es "$ct" dlq list --json | jq -c "$summary")" \
  "$(CARTEIRO_SPOOL=$is "$ct" dlq list --json | jq -c "$summary")"
one=$(CARTEIRO_SPOOL=$is "$ct" dlq list --json --reason deadline_exceeded --limit 1 | jq -r '.[0].id')
expect_status "imported show" 0 "$ct" dlq show --spool "$is" --json "$one"
expect_eq "imported history" "dead deadline_exceeded 1 permanent" "$(jq -r '"\(.state) \(.reason) \(.attempts | length) \(.attempts[0].outcome)"' "$T/out")"
expect_status "import again" 0 "$ct" dlq import --spool "$is" "$T/dl.pbs.zst"
expect_line "import again count" "$T/out" "imported 0 dead letters, 12 already present (skipped)"
expect_eq "import again reported" 10 "$(grep -c 'is already in this spool; skipped$' "$T/err")"
expect_eq "import again changed nothing" 12 "$(CARTEIRO_SPOOL=$is "$ct" spool stats --json | jq -r .dead)"
# The round trip loses nothing: exporting the imported spool gives the same bytes, compressed
# and plain.
expect_status "export the import" 0 "$ct" dlq export --spool "$is" "$T/dl2.pbs.zst"
expect_line "export the import count" "$T/out" "exported 12 dead letters to $T/dl2.pbs.zst"
expect_status "round trip byte-identical" 0 cmp "$T/dl.pbs.zst" "$T/dl2.pbs.zst"
expect_status "export plain 1" 0 "$ct" dlq export --spool "$es" "$T/rt1.pbs"
expect_status "export plain 2" 0 "$ct" dlq export --spool "$is" "$T/rt2.pbs"
expect_status "plain round trip byte-identical" 0 cmp "$T/rt1.pbs" "$T/rt2.pbs"
expect_status "the .zst export is the plain one compressed" 0 \
  sh -c "zstd -q -d -c \"$T/dl.pbs.zst\" | cmp - \"$T/rt1.pbs\""

# bad input: a truncated file names the record; a record that is not a DeadLetter is refused
expect_status "export plain" 0 "$ct" dlq export --spool "$es" "$T/dl.pbs"
head -c $(($(stat -c %s "$T/dl.pbs") - 10)) "$T/dl.pbs" >"$T/cut.pbs"
expect_status "import truncated" 65 "$ct" dlq import --spool "$T/cut.db" "$T/cut.pbs"
expect_line "truncated error" "$T/err" "carteiro dlq import: $T/cut.pbs: record 12: input ends inside this record (truncated file); nothing from it on was imported"
expect_line "truncated count" "$T/out" "imported 11 dead letters, 0 already present (skipped), 1 records refused"
printf '\003abc' >"$T/junk.pbs"
expect_status "import junk" 65 "$ct" dlq import --spool "$T/cut.db" "$T/junk.pbs"
expect_line "junk error" "$T/err" "carteiro dlq import: $T/junk.pbs: record 1: not a valid carteiro.v1.DeadLetter protobuf message"
expect_status "import missing" 66 "$ct" dlq import --spool "$T/cut.db" "$T/nope.pbs.zst"

# Replay while the daemon runs: it takes the replayed jobs within a second (it looks at the
# spool every 200 ms when idle), and delivers each once.
ls="$T/live.db"
"$gen" --count 5 --seed 25 --start-id 500 --channels sms --format jsonl --out "$T/l.jsonl"
CARTEIRO_SPOOL=$ls "$ct" enqueue --quiet "$T/l.jsonl"
expect_eq "live dead" 5 "$("$fixture" "$ls" dead permanent_failure sms sms:twilio)"
start_mock
LOG_LEVEL=info write_config
sed -i "s|^spool = .*|spool = $ls|" "$T/carteiro.ini"
start_ct
running() { grep -q '"carteiro running' "$T/run.log"; }
wait_until 10 running || { fail "carteiro run did not start"; sed 's/^/  run: /' "$T/run.log" >&2; }
sleep 0.5
expect_eq "nothing sent before the replay" 0 "$(mock_stat '.endpoints.twilio_messages.requests // 0')"
expect_eq "still dead with the daemon up" 5 "$(CARTEIRO_SPOOL=$ls "$ct" spool stats --json | jq -r .dead)"
expect_status "replay while running" 0 "$ct" dlq replay --spool "$ls" --yes
expect_line "replayed while running" "$T/out" "replayed 5 dead letters"
t_replayed=$(now_ms)
sent() { [ "$(mock_stat '.endpoints.twilio_messages.outcomes.ok // 0')" = 5 ]; }
wait_until 10 sent || fail "the replayed jobs were not sent within 10 s"
picked_ms=$(($(now_ms) - t_replayed))
echo "replayed jobs sent ${picked_ms} ms after the replay returned"
expect_eq "replayed jobs sent within 1000 ms (${picked_ms} ms)" 1 "$((picked_ms <= 1000))"
live_delivered() { [ "$(CARTEIRO_SPOOL=$ls "$ct" spool stats --json | jq -r .delivered)" = 5 ]; }
wait_until 10 live_delivered || fail "the replayed jobs were not recorded delivered within 10 s"
stop_ct 20
expect_eq "daemon exit status" 0 "$ct_status"
expect_eq "live: none dead, none ready" "0 0" \
  "$(CARTEIRO_SPOOL=$ls "$ct" spool stats --json | jq -r '"\(.dead) \(.ready)"')"
expect_eq "each sent once" "5 0" "$(mock_stat '"\(.endpoints.twilio_messages.outcomes.ok) \(.total.duplicates)"')"

finish
