# Shared helpers for the integration tests: a private temp dir removed on exit, and assertions
# that print what was expected and what came.
set -euo pipefail
T=$(mktemp -d "${TMPDIR:-/tmp}/carteiro-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
failures=0
checks=0

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

finish() {
  echo "$((checks - failures)) passed, $failures failed"
  [ "$failures" -eq 0 ]
}
