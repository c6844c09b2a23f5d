# Sourced by tools/build.sh, tools/test.sh and tools/run_fuzz.sh: every build goes
# through ccache (Debian's), with the cache outside the clone so that a fresh
# clone in any folder hits what an earlier one compiled.
#   CCACHE_DIR      ~/.cache/herd-ccache unless already set
#   CCACHE_BASEDIR  this clone's root: paths under it are hashed relative to it,
#                   so /tmp/a/herd and /work/herd share entries
#   CCACHE_NOHASHDIR  the working directory is not part of the hash (it differs
#                   per clone; -g line tables name files relative to BASEDIR)
#   CCACHE_MAXSIZE  5G: four build flavours (Release, ASan, TSan, fuzz) fit
# CMakeLists.txt makes ccache the compiler launcher when it is installed; without
# it the builds run as before.
herd_ccache_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/herd-ccache}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$herd_ccache_root}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
mkdir -p "$CCACHE_DIR"
