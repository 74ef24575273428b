#!/usr/bin/env bash
# docs/ci.md's example workflow, run locally against the demo: in another terminal `npm start -- --keep`
# (the Worker on http://127.0.0.1:8787 with visitors arriving), then `scripts/ci-example.sh`.
# The same steps as the workflow: deploy to the idle slot (a placeholder here), then the Action's
# own script (scripts/ci-gate.sh: edgeshift start, edgeshift wait), and the job fails on rollback.
# Exits with edgeshift wait's code (0 promoted, 10 rolled back, …: docs/cli.md, "Exit codes").
# `--fail`: the "new version" fails every request (the demo origin's control endpoint, blue :8101,
# green :8102), so the controller rolls it back and the job fails with 10.
set -euo pipefail
fail=no
case "${1:-}" in
  --fail) fail=yes ;;
  "") ;;
  *) echo "usage: scripts/ci-example.sh [--fail]" >&2 && exit 2 ;;
esac
cd "$(dirname "$0")/.."
export EDGESHIFT_URL="${EDGESHIFT_URL:-http://127.0.0.1:8787}"
export EDGESHIFT_TOKEN="${EDGESHIFT_TOKEN:-edgeshift-demo-token-not-a-secret}"
export RELEASE="${RELEASE:-ci-example-$(date +%H%M%S)}"
export STEPS="${STEPS:-25,100}" STEP_SECONDS="${STEP_SECONDS:-5}" TIMEOUT="${TIMEOUT:-3m}"

echo "== deploy $RELEASE to the idle slot"
status=$(npx --no-install edgeshift status --json) || {
  echo "no edgeshift Worker at $EDGESHIFT_URL: start the demo first with npm start -- --keep" >&2
  exit 3
}
idle=$(node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(s.roles.canary)' <<<"$status")
echo "(placeholder) a real pipeline deploys the new version of the app to the $idle origin here"
if [ "$fail" = yes ]; then
  mode_url="http://127.0.0.1:$([ "$idle" = blue ] && echo 8101 || echo 8102)/__origin/mode"
  echo "--fail: the new version on $idle answers 500 to every request"
  curl -fsS -X POST -d '{"errorRate":1,"failStatus":500}' "$mode_url" >/dev/null
  trap 'curl -fsS -X POST -d "{\"errorRate\":0}" "$mode_url" >/dev/null || true' EXIT
fi

echo "== edgeshift start, edgeshift wait"
code=0
scripts/ci-gate.sh || code=$?
if [ "$code" -eq 10 ]; then echo "== the canary was rolled back: the job fails" >&2; fi
exit "$code"
