#!/bin/sh
# carteiro-bench-report end to end: exit codes, the error line for a bad document, and the files
# it writes.  usage: test_report_cli.sh BINARY TESTDATA_DIR
set -eu
bin=$1
data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

expect_exit() { # expected-code command...
  want=$1
  shift
  set +e
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  set -e
  [ "$got" -eq "$want" ] || fail "$* exited $got, expected $want; stderr: $(cat "$tmp/err")"
}

expect_exit 0 "$bin" "$data/month-small.json" --html "$tmp/month.html"
[ "$(tail -n 1 "$tmp/out")" = "At this profile one instance sustains 96 deliveries/s; a month of 2400000 invoices in 6 cycles of 2 hours needs 58 % of one instance." ] ||
  fail "month: last line is $(tail -n 1 "$tmp/out")"
[ "$(grep -c '<svg ' "$tmp/month.html")" -eq 4 ] || fail "month.html: expected 4 charts"
[ ! -s "$tmp/err" ] || fail "month: stderr not empty: $(cat "$tmp/err")"

expect_exit 65 "$bin" "$data/bad-missing-field.json" --html "$tmp/bad.html"
[ "$(cat "$tmp/err")" = "carteiro-bench-report: $data/bad-missing-field.json: cycles[2].drain_s: missing" ] ||
  fail "bad: stderr is $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] || fail "bad: printed a summary"
[ ! -e "$tmp/bad.html" ] || fail "bad: wrote an HTML file"

printf '{"schema": "carteiro-bench/1", "kind": ' >"$tmp/trunc.json"
expect_exit 65 "$bin" "$tmp/trunc.json"
expect_exit 66 "$bin" "$tmp/absent.json"
expect_exit 64 "$bin"
expect_exit 64 "$bin" "$data/month-small.json" --html
expect_exit 64 "$bin" "$data/month-small.json" --pdf x
expect_exit 73 "$bin" "$data/month-small.json" --html "$tmp/no/such/dir.html"
echo "ok"
