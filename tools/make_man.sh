#!/usr/bin/env bash
# Writes herd(1), the manual page, to stdout: the command list of `herd --help` and
# each command's `herd COMMAND --help`, so the page says what the option tables say.
# Run by the build (cmake/install.cmake); usage: make_man.sh PATH/TO/herd
set -euo pipefail
herd="$1"
# roff: a leading . or ' would be a request, and \ an escape.
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
version="$("$herd" --version | awk '{print $2}')"
commands="$("$herd" --help 2>&1 | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1}')"
cat <<ROFF
.TH HERD 1 "" "herd $version" "User Commands"
.SH NAME
herd \\- run, serve and inspect Meta's Llama 3.1 models on a CPU
.SH SYNOPSIS
.B herd
.I COMMAND
[\\fIoptions\\fR]
.br
.B herd help
[\\fICOMMAND\\fR]
.br
.B herd \\-\\-version
.SH DESCRIPTION
.nf
ROFF
"$herd" --help 2>&1 | esc
echo ".fi"
for c in $commands; do
  echo ".SH herd $c"
  echo ".nf"
  "$herd" "$c" --help 2>&1 | esc
  echo ".fi"
done
cat <<ROFF
.SH EXIT STATUS
0 on success; 2 when the command line is wrong; 1 when running fails (a missing or
malformed file, I/O); 130 after an interrupt (Ctrl-C).
.SH ENVIRONMENT
.TP
.B HERD_API_KEY
the key \\fBherd serve\\fR requires of clients, instead of \\-\\-api\\-key.
.TP
.B HERD_HISTORY
the file where \\fBherd chat\\fR keeps its input history.
.TP
.B HERD_ISA
the kernels to use when \\-\\-isa is auto (ref, avx2, avx512, avx512vnni, avx512bf16, amx).
.TP
.B NO_COLOR
no colors in \\fBherd chat\\fR.
.SH SEE ALSO
The documentation in the source tree's docs/ folder and README.md.
ROFF
