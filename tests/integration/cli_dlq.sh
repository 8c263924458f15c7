#!/usr/bin/env bash
# carteiro dlq end to end: list with filters, show, replay (dry run, confirmation, --yes),
# purge; dead letters are made by spool-fixture acting as the daemon.
# usage: cli_dlq.sh CARTEIRO GEN_INVOICES SPOOL_FIXTURE
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 fixture=$3
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

finish
