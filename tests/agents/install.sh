#!/usr/bin/env bash
# Installs the agent CLIs that crates/server/tests/agents.rs runs headless:
#   tests/agents/node_modules  Claude Code, Codex CLI, Gemini CLI (versions pinned in package.json)
#   .venv-aider               aider-chat (pinned in requirements-aider.txt; its own venv, it pins many deps)
# Idempotent: each part is skipped while a stamp holds the hash of what it was installed from.
# Exit status is non-zero when any part could not be installed; callers decide whether that fails.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
status=0

# --- npm clients ---------------------------------------------------------------------
npm_stamp="$here/node_modules/.modelgate-install.sha"
npm_want=$(cat "$here/package.json" "$here/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ "$(cat "$npm_stamp" 2>/dev/null)" != "$npm_want" ] \
  || [ ! -e "$here/node_modules/.bin/claude" ] || [ ! -e "$here/node_modules/.bin/codex" ] \
  || [ ! -e "$here/node_modules/.bin/gemini" ]; then
  echo "installing the npm agent clients into $here/node_modules"
  if [ -f "$here/package-lock.json" ]; then cmd=ci; else cmd=install; fi
  if (cd "$here" && npm "$cmd" --no-audit --no-fund --loglevel=error); then
    npm_want=$(cat "$here/package.json" "$here/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1)
    echo "$npm_want" > "$npm_stamp"
  else
    echo "install.sh: npm $cmd failed" >&2
    status=1
  fi
fi

# --- aider ---------------------------------------------------------------------------
venv="$root/.venv-aider"
req="$here/requirements-aider.txt"
py_stamp="$venv/.requirements.sha"
py_want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x "$venv/bin/aider" ] || [ "$(cat "$py_stamp" 2>/dev/null)" != "$py_want" ]; then
  echo "installing aider into $venv"
  if python3 -m venv "$venv" \
    && "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"; then
    echo "$py_want" > "$py_stamp"
  else
    echo "install.sh: pip install -r $req failed" >&2
    status=1
  fi
fi
exit $status
