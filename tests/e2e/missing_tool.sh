# Sourced by the e2e scripts that need a tool from tools/setup.sh (node, chromium, the
# npm peers). missing_tool WHAT: under CI=true (which .ci/run exports) a missing tool is
# a failure; elsewhere the test is reported as skipped (exit 77, which tests/CMakeLists.txt
# registers as ctest's SKIP_RETURN_CODE), never as a pass.
missing_tool() {
  if [ "${CI:-}" = true ]; then
    echo "FAIL: $1 (tools/setup.sh installs it)"
    exit 1
  fi
  echo "SKIP: $1 (run tools/setup.sh)"
  exit 77
}
