#!/usr/bin/env bash
# The CI gate in two commands, shared by the GitHub Action (action.yml) and its local example
# (scripts/ci-example.sh): `edgeshift start` writes the plan through the controller and prints the
# attempt it began; `edgeshift wait --attempt` waits on exactly that attempt (docs/cli.md, "wait"),
# so a status still showing the previous attempt cannot pass or fail the job.
#
# Environment: EDGESHIFT_URL, EDGESHIFT_TOKEN (required); RELEASE (required); STEPS (default
# 1,5,25,50,100), STEP_SECONDS (300), TIMEOUT (30m), UNTIL (promoted), INTERVAL (2s).
# Exit: wait's code (0 promoted/reached, 10 rolled back, 11 aborted, 12 paused, 13 timeout,
# 14 replaced, 3 unreachable), or start's (1 refused, 2 bad input, 3 unreachable). With GITHUB_OUTPUT set,
# writes the outputs `attempt` (empty when start failed), `exit-code` and `outcome` there, either way
# (not when one of the three required variables is missing: that is the workflow's own mistake, said
# on stderr before anything runs).
set -euo pipefail
: "${EDGESHIFT_URL:?set EDGESHIFT_URL to the URL of the Worker}"
: "${EDGESHIFT_TOKEN:?set EDGESHIFT_TOKEN to an admin token (ADMIN_TOKEN or one of ADMIN_TOKENS)}"
: "${RELEASE:?set RELEASE to the label of the version being rolled out, e.g. the commit}"
export EDGESHIFT_URL EDGESHIFT_TOKEN

# The outputs and the annotation, whichever command ended the gate: a workflow testing
# steps.<id>.outputs.outcome must see why even when `start` never began an attempt.
finish() {
  local code=$1 outcome=$2 what=$3
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf 'attempt=%s\nexit-code=%s\noutcome=%s\n' "$attempt" "$code" "$outcome" >>"$GITHUB_OUTPUT"
  fi
  if [ -n "${GITHUB_ACTIONS:-}" ] && [ "$code" -ne 0 ]; then
    echo "::error title=edgeshift::release $RELEASE${attempt:+, attempt $attempt}: $outcome ($what exit $code)"
  fi
  exit "$code"
}

attempt=""
code=0
started=$(npx --no-install edgeshift start --steps "${STEPS:-1,5,25,50,100}" --step-seconds "${STEP_SECONDS:-300}" \
  --release "$RELEASE" --reason "${REASON:-CI: roll out $RELEASE}") || code=$?
echo "$started"
if [ "$code" -ne 0 ]; then
  # start's own codes: 3 the Worker unreachable, 1 refused, 2 bad input.
  finish "$code" "$([ "$code" -eq 3 ] && echo unreachable || echo error)" "edgeshift start"
fi
attempt=$(sed -n 's/^attempt \([0-9][0-9]*\) .*/\1/p' <<<"$started")
if [ -z "$attempt" ]; then
  echo "edgeshift start did not print the attempt it began: is EDGESHIFT_URL the edgeshift Worker?" >&2
  finish 1 error "edgeshift start"
fi

npx --no-install edgeshift wait --attempt "$attempt" --until "${UNTIL:-promoted}" --timeout "${TIMEOUT:-30m}" \
  --interval "${INTERVAL:-2s}" || code=$?

case $code in
  0) outcome=ok ;; 3) outcome=unreachable ;; 10) outcome=rolled-back ;; 11) outcome=aborted ;;
  12) outcome=paused ;; 13) outcome=timeout ;; 14) outcome=superseded ;; *) outcome=error ;;
esac
finish "$code" "$outcome" "edgeshift wait"
