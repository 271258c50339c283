# Sourced by the scripts that install and start things: one progress line per step.
#   STEP_LOG=<file>; step "label" command…   → "  label… done (123 ms)", output in STEP_LOG
# STEP_WIDTH sets the label column (default 34).

now_ms() { date +%s%3N; }

step() {
  local label=$1; shift
  local t0; t0=$(now_ms)
  printf "  %-${STEP_WIDTH:-34}s" "$label…"
  if "$@" >>"$STEP_LOG" 2>&1; then
    printf ' done (%d ms)\n' "$(( $(now_ms) - t0 ))"
  else
    printf ' FAILED (%d ms); see %s\n' "$(( $(now_ms) - t0 ))" "$STEP_LOG"
    tail -n 30 "$STEP_LOG" >&2
    return 1
  fi
}
