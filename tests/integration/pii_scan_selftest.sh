#!/usr/bin/env bash
# The personal-data scan finds what it must and nothing else: synthetic CPFs (bare and
# formatted), phone numbers and e-mail addresses planted in log lines are each reported with
# file, line and a mask, and carteiro's masks, a wrong check digit, barcode lines, timestamps
# and hex ids beside them are not.
# usage: pii_scan_selftest.sh PII_SCAN_PY
. "$(dirname "$0")/lib.sh"
scan=$1
py=/usr/bin/python3

mkdir -p "$T/logs/some_test" "$T/empty"
cat >"$T/logs/some_test/run.log" <<'LOG'
{"ts":"2026-11-23T21:00:00.000Z","level":"info","msg":"carteiro running: workers=2"}
{"level":"warn","msg":"job dead","job":"inv-00000001","cpf":"52998224725"}
{"level":"warn","msg":"masked","cpf":"***.***.***-25","phone":"+55 11 9****-4321","email":"f***@example.com"}
recipient 123.456.789-09 refused
not a CPF: 52998224724 (wrong check digit), 11111111111 (all equal), 529.982.247-24
{"level":"error","msg":"twilio 21610","to":"+5511987654321"}
mock: sms to 5521998765432 accepted
barcode 00190725869430299330123932472675316630000060273 at 1796094000000 id 0a52998224725f
{"msg":"bounce","to":"fulana.tal+fatura@example.invalid"}
call (31) 98765-0002 or +55 61 3456-7890 before 2026-11-23 12:00-13:00
LOG
printf 'clean line\n' >"$T/logs/some_test/mock.err"

expect_status "planted: exit 1" 1 "$py" "$scan" "$T/logs"
expect_eq "planted: exact findings" \
  "some_test/run.log:2: cpf ***.***.***-25
some_test/run.log:4: cpf ***.***.***-09
some_test/run.log:6: phone +55 11 ****-4321
some_test/run.log:7: phone +55 21 ****-5432
some_test/run.log:9: email f***@example.invalid
some_test/run.log:10: phone +55 31 ****-0002
some_test/run.log:10: phone +55 61 ****-7890
pii_scan: 2 files, 11 lines, 7 findings of personal data in clear" "$(cat "$T/out")"
for v in 52998224725 123.456.789-09 5511987654321 5521998765432 fulana.tal 98765-0002 3456-7890; do
  expect_no_match "the report does not repeat $v" "$T/out" "$v"
done

printf '{"msg":"e-mail to f***@example.com, phone +55 21 9****-5432"}\n' >"$T/logs/some_test/run.log"
expect_status "masked only: exit 0" 0 "$py" "$scan" "$T/logs"
expect_eq "masked only: summary" "pii_scan: 2 files, 2 lines, 0 findings of personal data in clear" \
  "$(cat "$T/out")"
expect_status "no logs at all: exit 2" 2 "$py" "$scan" "$T/empty"

# The keeping side (lib.sh): a test that leaks into its own stderr and into a daemon log in its
# temp dir has both kept under CARTEIRO_TEST_LOG_DIR/<test>/ after its temp dir is gone, and
# the scan finds them there.
lib=$(cd "$(dirname "$0")" && pwd)/lib.sh
cat >"$T/leaky_test.sh" <<SCRIPT
. "$lib"
printf '%s\n' '{"msg":"sent","to":"+5531987650001"}' >"\$T/run.log"
echo "leaked cpf 52998224725" >&2
echo "\$T" >"$T/leaky_tmp"
finish
SCRIPT
# (run directly, not by expect_status: its stderr would land in this test's own kept logs)
leaky_rc=0
CARTEIRO_TEST_LOG_DIR="$T/kept" bash "$T/leaky_test.sh" >/dev/null 2>&1 || leaky_rc=$?
expect_eq "leaky test runs" 0 "$leaky_rc"
expect_eq "leaky test's temp dir removed" 0 "$([ -e "$(cat "$T/leaky_tmp")" ] && echo 1 || echo 0)"
expect_status "kept logs: exit 1" 1 "$py" "$scan" "$T/kept"
expect_eq "kept logs: exact findings" \
  "leaky_test/run.log:1: phone +55 31 ****-0001
leaky_test/test.stderr:1: cpf ***.***.***-25
pii_scan: 3 files, 3 lines, 2 findings of personal data in clear" "$(cat "$T/out")"
finish
