# shellcheck shell=bash
# Timing for scripts/test and .ci/run, sourced by both: `phase NAME COMMAND...` runs COMMAND,
# says how long it took, and keeps the figure for the table printed when the script exits
# (also when it fails, so a red run still shows where its time went).

PHASE_NAMES=()
PHASE_SECONDS=()
PHASE_CLOCK_START=$SECONDS

phase() {
  local name=$1
  shift
  local start=$SECONDS
  echo "==> $name: $*" >&2
  local status=0
  "$@" || status=$?
  PHASE_NAMES+=("$name")
  PHASE_SECONDS+=($((SECONDS - start)))
  echo "<== $name: $((SECONDS - start)) s (exit $status)" >&2
  return "$status"
}

phase_summary() {
  [ ${#PHASE_NAMES[@]} -gt 0 ] || return 0
  echo
  echo "phase | seconds"
  echo "---|---"
  local i
  for i in "${!PHASE_NAMES[@]}"; do
    echo "${PHASE_NAMES[$i]} | ${PHASE_SECONDS[$i]}"
  done
  echo "total | $((SECONDS - PHASE_CLOCK_START))"
}

# `cargo test` with its output kept in target/test-times/NAME.log, then one line per test
# binary: how long it ran (its own "finished in"; building is in the phase's time).
cargo_test_timed() {
  local name=$1
  shift
  mkdir -p target/test-times
  local log="target/test-times/$name.log"
  local status=0
  # The callers set pipefail: a failing `cargo test` fails the pipe.
  cargo test "$@" 2>&1 | tee "$log" || status=$?
  echo "test binary | seconds" >&2
  awk '
    /^ *Running / { n = $NF; gsub(/[()]/, "", n); sub(/.*\//, "", n); sub(/-[0-9a-f]+$/, "", n); name = n }
    /^ *Doc-tests / { name = "doc-tests " $2 }
    /^test result: / { for (i = 1; i <= NF; i++) if ($i == "in") { t = $(i + 1); sub(/s$/, "", t) } ; print name " | " t }
  ' "$log" | tee "target/test-times/$name.tsv" >&2
  return "$status"
}
