#!/usr/bin/env bash
# ctest "e2e": `cmake --install` into a temporary prefix, then use only what it put
# there: the installed herd, its manual page and bash completion, and the C API
# (examples/c_api/chat_once.c) built twice against the installed files, with
# pkg-config and with CMake's find_package(herd). The example's greedy reply must equal
# `herd run -cnv --temp 0`'s for the same question (the same renderer, sampler and loop).
# HERD_BUILD_DIR names the build tree, HERD_SOURCE_DIR the source tree.
set -uo pipefail
B="${HERD_BUILD_DIR:?HERD_BUILD_DIR must name the build tree}"
S="${HERD_SOURCE_DIR:?HERD_SOURCE_DIR must name the source tree}"
tmp="$(mktemp -d /tmp/herd-install.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }

P="$tmp/prefix"
if out="$(cmake --install "$B" --prefix "$P" 2>&1)"; then pass "cmake --install"; else fail "cmake --install" "$out"; exit 1; fi
for f in bin/herd include/herd.h lib/libherd.so lib/pkgconfig/herd.pc lib/cmake/herd/herdConfig.cmake \
  lib/cmake/herd/herdConfigVersion.cmake share/man/man1/herd.1 share/bash-completion/completions/herd \
  share/zsh/site-functions/_herd; do
  [ -e "$P/$f" ] || fail "installed $f"
done
[ "$fails" -eq 0 ] && pass "every installed file is in place"
H="$P/bin/herd"
[ "$("$H" --version)" == "herd $(grep -oE '[0-9]+\.[0-9]+\.[0-9]+' "$S/src/base/version.h")" ] &&
  pass "installed herd --version" || fail "installed herd --version"
"$H" help run | grep -q -- "--json-schema" && pass "herd help run" || fail "herd help run"
man -l "$P/share/man/man1/herd.1" 2>/dev/null | grep -q "herd serve" ||
  grep -q '^\.SH herd serve' "$P/share/man/man1/herd.1" && pass "the manual has every command" || fail "manual"
grep -q -- "--strict-model-names" "$P/share/man/man1/herd.1" && pass "the manual lists the options" ||
  fail "manual options"

# bash completion: commands, then a command's options, read from the installed herd.
comp() {  # comp WORD... : the completions of the last word
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _herd_bash; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$P/share/bash-completion/completions/herd" "$@"
}
[ "$(comp "$H" se)" == "serve" ] && pass "bash completes a command" || fail "bash command completion" "$(comp "$H" se)"
got="$(comp "$H" run --to | sort | tr '\n' ' ')"
[ "$got" == "--tokens --top-k --top-p " ] && pass "bash completes a command's options" || fail "bash options" "$got"
if command -v zsh >/dev/null; then
  zsh -n "$P/share/zsh/site-functions/_herd" && pass "zsh completion parses" || fail "zsh completion parses"
fi

m="$tmp/m.gguf"
"$H" make-model --shape tiny --dtype q8_0 -o "$m" -q 2>/dev/null || { fail "make-model"; exit 1; }
q="Why is the sky blue?"
want="$("$H" run -m "$m" -cnv -p "$q" --temp 0 -n 24 2>/dev/null)"

export PKG_CONFIG_PATH="$P/lib/pkgconfig"
if out="$(cc -std=c11 -Wall -Wextra -Werror "$S/examples/c_api/chat_once.c" $(pkg-config --cflags --libs herd) \
  -o "$tmp/chat_once_pc" 2>&1)"; then pass "C example builds with pkg-config"; else fail "pkg-config build" "$out"; fi
if out="$(cmake -S "$S/examples/c_api" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$P" 2>&1 && cmake --build "$tmp/ex" 2>&1)"; then
  pass "C example builds with find_package(herd)"
else fail "CMake build" "$out"; fi
for exe in "$tmp/chat_once_pc" "$tmp/ex/chat_once"; do
  got="$(LD_LIBRARY_PATH="$P/lib" "$exe" "$m" "$q" 24 2>"$tmp/err")"; rc=$?
  if [ "$rc" -eq 0 ] && [ -n "$want" ] && [ "$got" == "$want" ]; then
    pass "$(basename "$exe"): the C API's greedy reply equals herd run's"
  else fail "$(basename "$exe") (exit $rc)" "want [$want]"$'\n'"got  [$got]"$'\n'"$(cat "$tmp/err")"; fi
done
LD_LIBRARY_PATH="$P/lib" "$tmp/chat_once_pc" "$tmp/none.gguf" "x" 2>"$tmp/err"; rc=$?
[ "$rc" -eq 1 ] && grep -q "does not exist" "$tmp/err" && pass "the C API reports a missing model in err" ||
  fail "C API missing model (exit $rc)" "$(cat "$tmp/err")"
# Only herd_* symbols are exported.
other="$(nm -D --defined-only "$P/lib/libherd.so" | awk '$2 ~ /^[TDB]$/ && $3 !~ /^herd_/' | head -3)"
[ -z "$other" ] && pass "libherd exports only herd_*" || fail "libherd exports more" "$other"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
