#!/usr/bin/env bash
# Every command line `carteiro --help` lists has a complete --help: exit 0, a usage line, an
# Example section with a line that runs it, and every long option its parser accepts (the
# getopt table in its source file; for dlq, the per-subcommand option lists next to it). An
# unknown option exits 64 and is named.
# usage: cli_help.sh CARTEIRO SOURCE_DIR
. "$(dirname "$0")/lib.sh"
ct=$1 src=$2/src/cli

expect_status "carteiro --help" 0 "$ct" --help
cp "$T/out" "$T/top"
expect_eq "top: usage line" 1 "$(grep -c '^usage: carteiro <command>' "$T/top")"
expect_eq "top: Example section" 1 "$(grep -c '^Example:$' "$T/top")"
# The command lines: indented, one or two words, then two spaces or more and the summary.
sed -n '/^commands:$/,/^$/p' "$T/top" | sed -nE 's/^  ([a-z]+( [a-z]+)?)  +.*/\1/p' >"$T/forms"
expect_eq "top: command lines listed" 13 "$(wc -l <"$T/forms")"

# The long options the parser of FORM accepts, one a line.
parser_options() {
  local form=$1 file
  case $form in
    run) file=run.c ;;
    enqueue) file=enqueue.c ;;
    "spool stats") file=spool_cmd.c ;;
    "job show") file=job_cmd.c ;;
    status) file=status.c ;;
    "config check") echo help; return ;; # no getopt table: FILE or --help
    "dlq "*)
      # {"list", ..., "reason tenant ... help", ...}: the entry of the subcommand's table
      tr '\n' ' ' <"$src/dlq.c" | grep -oE "\{\"${form#dlq }\", \"[^\"]*\",[^}]*\"[a-z -]+ help\"" |
        grep -oE '"[a-z -]+ help"$' | tr -d '"' | tr ' ' '\n'
      return ;;
    *) echo "no source known for '$form'" >&2; return 1 ;;
  esac
  grep -oE '\{"[a-z-]+", (no|required|optional)_argument' "$src/$file" | sed -E 's/\{"([a-z-]+)".*/\1/'
}

while read -r form; do
  # shellcheck disable=SC2086 # the form is one or two words
  expect_status "$form --help" 0 "$ct" $form --help
  cp "$T/out" "$T/help"
  expect_eq "$form: usage line" 1 "$(grep -c "^usage: carteiro $form\\b" "$T/help")"
  expect_eq "$form: Example section" 1 "$(grep -c '^Example:$' "$T/help")"
  expect_eq "$form: an example runs it" true \
    "$(sed -n '/^Example:$/,$p' "$T/help" | grep -qE "^  (.* \\| )?carteiro $form\\b" && echo true || echo false)"
  parser_options "$form" >"$T/opts" || fail "$form: no option list"
  expect_eq "$form: the parser's options found" true "$([ -s "$T/opts" ] && echo true || echo false)"
  # Each option on a line of its own, indented: "OPT 1" when some line starts with it, else
  # "OPT 0" (one awk for all of a command's options: a process per option took most of this
  # test's time on a loaded machine).
  while read -r opt found; do
    expect_eq "$form --help mentions --$opt" 1 "$found"
  done < <(awk 'FILENAME == ARGV[1] { opts[++n] = $0; next }
                { for (i = 1; i <= n; i++) if ($0 ~ ("^ +--" opts[i] "([^A-Za-z0-9_]|$)")) seen[i] = 1 }
                END { for (i = 1; i <= n; i++) print opts[i], seen[i] ? 1 : 0 }' "$T/opts" "$T/help")
  # shellcheck disable=SC2086
  expect_status "$form: unknown option" 64 "$ct" $form --no-such-option
  expect_eq "$form: unknown option named" 1 "$(grep -c -- "'--no-such-option'" "$T/err")"
done <"$T/forms"

# dlq: the per-subcommand lists together cover the whole getopt table, and name nothing else.
grep -oE '^ +\{"[a-z-]+", (no|required)_argument' "$src/dlq.c" | sed -E 's/^ +\{"([a-z-]+)".*/\1/' |
  sort -u >"$T/dlq_table"
for sub in list show stats replay purge export import; do parser_options "dlq $sub"; done |
  sort -u >"$T/dlq_lists"
expect_eq "dlq: options in the table" 16 "$(wc -l <"$T/dlq_table")"
expect_eq "dlq: the subcommands' lists cover the table" "$(cat "$T/dlq_table" | xargs)" \
  "$(cat "$T/dlq_lists" | xargs)"
# An option of another subcommand is refused by name.
expect_status "dlq stats --rate" 64 "$ct" dlq stats --rate 5/s
expect_eq "dlq stats --rate named" \
  "carteiro dlq stats: --rate does not apply to stats (see carteiro dlq stats --help)" "$(cat "$T/err")"
finish
