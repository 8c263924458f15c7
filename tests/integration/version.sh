#!/usr/bin/env bash
# carteiro --version names the project version and the commit the binary was built from, and
# cmake/version.cmake finds that commit in each place a build can come from: git (the tree's
# own repository only), the COMMIT file of a release tarball (git archive fills it in), a
# -DCARTEIRO_COMMIT given by a packager, or none ("unknown").
# usage: version.sh CARTEIRO SOURCE_DIR
. "$(dirname "$0")/lib.sh"
ct=$1 src=$(readlink -f "$2")
version=$(sed -n 's/^project(carteiro VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
script=$src/cmake/version.cmake

# commit_of SRC [COMMIT]: the commit version.cmake writes for sources in SRC.
commit_of() {
  cmake -DSRC="$1" -DOUT="$T/version.h" -DVERSION="$version" -DCOMMIT="${2:-}" -P "$script" >/dev/null
  sed -n 's/^#define CARTEIRO_COMMIT "\(.*\)"$/\1/p' "$T/version.h"
}

expect_status "carteiro --version" 0 "$ct" --version
if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1; then
  head=$(git -C "$src" rev-parse --short=12 HEAD)
  built=$(sed -nE "s/^carteiro $version \(commit ([0-9a-f]{12})(-dirty)?\)\$/\1/p" "$T/out")
  expect_eq "carteiro --version: 'carteiro $version (commit <12 hex digits>[-dirty])'" true \
    "$([ -n "$built" ] && echo true || echo false)"
  # HEAD may have moved since the build: the binary's commit must be one of this repository's.
  expect_eq "the commit is one of this repository's" true \
    "$(git -C "$src" cat-file -e "$built^{commit}" 2>/dev/null && echo true || echo false)"
  [ "$built" = "$head" ] || echo "note: built at $built, HEAD is now $head (a rebuild updates it)"
  expect_eq "version.cmake in this tree: HEAD" true "$(commit_of "$src" | grep -qE "^$head(-dirty)?\$" && echo true || echo false)"
  expect_eq "export-subst is set for COMMIT" "COMMIT: export-subst: set" "$(git -C "$src" check-attr export-subst COMMIT)"
else
  echo "not a git checkout: the git case is not checked here"
  expect_eq "carteiro --version form" true "$(grep -qE "^carteiro $version \\(commit [0-9a-f]+|unknown\\)\$" "$T/out" && echo true || echo false)"
fi
# A tarball without .git: the COMMIT file, as git archive leaves it, else unknown.
mkdir -p "$T/tarball"
cp "$src/COMMIT" "$T/tarball/COMMIT"
expect_eq "COMMIT still a placeholder in the tree" '$Format:%h$' "$(cat "$T/tarball/COMMIT")"
expect_eq "tarball, COMMIT not filled in: unknown" unknown "$(commit_of "$T/tarball")"
echo 0123456789ab >"$T/tarball/COMMIT"
expect_eq "tarball, COMMIT filled in by git archive" 0123456789ab "$(commit_of "$T/tarball")"
rm "$T/tarball/COMMIT"
expect_eq "no .git, no COMMIT: unknown" unknown "$(commit_of "$T/tarball")"
expect_eq "a packager's -DCARTEIRO_COMMIT wins" deadbeef0001 "$(commit_of "$T/tarball" deadbeef0001)"
# A tarball unpacked inside another git checkout must not take that checkout's commit.
mkdir -p "$T/outer/carteiro-$version"
git -C "$T/outer" init -q && git -C "$T/outer" -c user.email=t@example.org -c user.name=t commit -q --allow-empty -m outer
expect_eq "inside another repository: not its commit" unknown "$(commit_of "$T/outer/carteiro-$version")"
finish
