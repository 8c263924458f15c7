# Shared helpers for the integration tests: a private temp dir removed on exit, and assertions
# that print what was expected and what came.
set -euo pipefail
T=$(mktemp -d "${TMPDIR:-/tmp}/carteiro-test.XXXXXX")
failures=0
checks=0

# Logs kept for the suite's personal-data scan (pii_scan.py): with CARTEIRO_TEST_LOG_DIR set
# (tests/integration/CMakeLists.txt sets it for every test here), the test's own output and the
# logs of the programs it runs are kept under $CARTEIRO_TEST_LOG_DIR/<test>/ after $T is gone.
# Only logs: never job files, spools or keys from $T.
LOG_KEEP_DIR=""
if [ -n "${CARTEIRO_TEST_LOG_DIR:-}" ]; then
  LOG_KEEP_DIR=$CARTEIRO_TEST_LOG_DIR/$(basename "$0" .sh)
  rm -rf "$LOG_KEEP_DIR"
  mkdir -p "$LOG_KEEP_DIR"
  exec > >(tee -a "$LOG_KEEP_DIR/test.stdout") 2> >(tee -a "$LOG_KEEP_DIR/test.stderr" >&2)
fi

# keep_log FILE...: appends each non-empty FILE to the kept file of the same name. Called
# before a log is overwritten (a second `carteiro run`, a restarted mock) and at exit.
keep_log() {
  [ -n "$LOG_KEEP_DIR" ] || return 0
  local f
  for f in "$@"; do
    if [ -s "$f" ]; then cat "$f" >>"$LOG_KEEP_DIR/$(basename "$f")"; fi
  done
}

# keep_logs: at exit, every log still in $T: the daemon's (run.log), the mock's (mock*.err,
# mock*.out), other *.log and *.err files, and the last CLI stderr if no expect_status kept it.
keep_logs() {
  local f
  for f in "$T"/*.log "$T"/*.err "$T"/mock*.out; do keep_log "$f"; done
  if [ -s "$T/err" ] && [ "$T/err" -nt "$T/cli.log" ]; then keep_log "$T/err"; fi
}
cleanup() {
  keep_logs
  rm -rf "$T"
}
trap cleanup EXIT
# A command that ends the test under set -e says so, instead of the test ending without a word.
trap 'echo "FAIL: $(basename "$0") line $LINENO: [$BASH_COMMAND] exited $?; the test stops here" >&2' ERR

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
  checks=$((checks + 1))
  if [ "$2" != "$3" ]; then fail "$1: expected [$2], got [$3]"; fi
}

# expect_status WHAT EXPECTED_CODE COMMAND...: runs COMMAND, stdout to $T/out, stderr to $T/err
expect_status() {
  local what=$1 want=$2
  shift 2
  local got=0
  "$@" >"$T/out" 2>"$T/err" || got=$?
  cat "$T/err" >>"$T/cli.log" # every CLI stderr, for the personal-data scan
  checks=$((checks + 1))
  if [ "$got" != "$want" ]; then
    fail "$what: exit status expected $want, got $got"
    sed 's/^/  stderr: /' "$T/err" >&2
  fi
}

# expect_line WHAT FILE LINE: FILE has LINE exactly as one of its lines
expect_line() {
  checks=$((checks + 1))
  if ! grep -qxF -- "$3" "$2"; then
    fail "$1: no line [$3] in $(basename "$2")"
    sed 's/^/  | /' "$2" >&2
  fi
}

# expect_no_match WHAT FILE TEXT: FILE does not contain TEXT anywhere
expect_no_match() {
  checks=$((checks + 1))
  if grep -qF -- "$3" "$2"; then fail "$1: [$3] appears in $(basename "$2")"; fi
}

# fields FILE EXPR...: one jq run over the JSON in FILE for several values (jq takes a tenth of
# a second to start on a loaded machine); F[i] is what `jq -r EXPR_i FILE` prints.
fields() {
  local file=$1 e prog=""
  shift
  for e in "$@"; do prog="$prog${prog:+, }(($e) | if type == \"string\" then . else tojson end)"; done
  mapfile -t F < <(jq -r "$prog" "$file")
}

finish() {
  echo "$((checks - failures)) passed, $failures failed"
  [ "$failures" -eq 0 ]
}
