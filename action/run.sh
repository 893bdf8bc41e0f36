#!/usr/bin/env bash
# The step of action.yml (and of docs/gitlab-ci.yml), in the environment a GitHub runner
# gives it: AUTODB_COMMAND (lint | analyze | deploy), AUTODB_MIGRATIONS, AUTODB_MAX_RISK,
# AUTODB_URL, AUTODB_API_KEY, AUTODB_CONNECTION, AUTODB_SCHEMA, AUTODB_COMMENT,
# AUTODB_BIN (a binary; else built from AUTODB_SOURCE with cargo), GITHUB_STEP_SUMMARY and
# GITHUB_OUTPUT (files, optional), GH_TOKEN and PR_NUMBER (the comment).
# Exits with autodb's own exit code.
set -uo pipefail

autodb="${AUTODB_BIN:-}"
if [ -z "$autodb" ]; then
  if command -v autodb >/dev/null 2>&1; then
    autodb=autodb
  else
    echo "::group::Building autodb"
    cargo install --locked --quiet --root "${RUNNER_TEMP:-/tmp}/autodb" --path "$AUTODB_SOURCE" --bin autodb || exit 2
    autodb="${RUNNER_TEMP:-/tmp}/autodb/bin/autodb"
    echo "::endgroup::"
  fi
fi

command="${AUTODB_COMMAND:-lint}"
migrations="${AUTODB_MIGRATIONS:-migrations}"
max_risk="${AUTODB_MAX_RISK:-high}"
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# analyze and deploy need a stack.
need_stack() {
  local missing=()
  [ -n "${AUTODB_URL:-}" ] || missing+=(url)
  [ -n "${AUTODB_API_KEY:-}" ] || missing+=(api-key)
  [ -n "${AUTODB_CONNECTION:-}" ] || missing+=(connection)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "::error::autodb $command needs the inputs ${missing[*]}" >&2
    echo "exit-code=2" >>"${GITHUB_OUTPUT:-/dev/null}"
    exit 2
  fi
}

case "$command" in
  lint)
    schema=()
    [ -n "${AUTODB_SCHEMA:-}" ] && schema=(--schema "$AUTODB_SCHEMA")
    # Annotations on the pull request's files, then the readable report for the summary.
    "$autodb" lint --reporter github --max-risk "$max_risk" "${schema[@]}" "$migrations"
    code=$?
    "$autodb" lint --max-risk "$max_risk" "${schema[@]}" "$migrations" >"$out" 2>&1
    verdict=$([ "$code" = 0 ] && echo "passed" || echo "failed (exit $code)")
    ;;
  analyze)
    need_stack
    "$autodb" analyze "$migrations" --connection "$AUTODB_CONNECTION" --max-risk "$max_risk" >"$out"
    code=$?
    verdict=$([ "$code" = 0 ] && echo "at most $max_risk" || echo "refused (exit $code)")
    ;;
  deploy)
    need_stack
    "$autodb" deploy "$migrations" --connection "$AUTODB_CONNECTION" --max-risk "$max_risk" --wait >"$out"
    code=$?
    verdict=$([ "$code" = 0 ] && echo "deployed" || echo "not deployed (exit $code)")
    ;;
  *)
    echo "::error::unknown command '$command' (lint, analyze or deploy)" >&2
    code=2
    verdict="usage error"
    ;;
esac

cat "$out"
{
  echo "### autodb $command: $verdict"
  echo
  echo '```'
  cat "$out"
  echo '```'
} >>"$summary"
if [ "$command" = lint ] && [ "${AUTODB_COMMENT:-false}" = true ] && [ -n "${PR_NUMBER:-}" ]; then
  { echo "### autodb lint: $verdict"; echo; echo '```'; head -c 60000 "$out"; echo '```'; } \
    | gh pr comment "$PR_NUMBER" --body-file - || echo "::warning::could not comment on the pull request"
fi
echo "exit-code=$code" >>"${GITHUB_OUTPUT:-/dev/null}"
exit "$code"
