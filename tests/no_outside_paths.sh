#!/usr/bin/env bash
# Fails when a tracked file refers to a path outside the repository: the
# repository must build and test from its own files and what its scripts
# install.
set -euo pipefail
cd "$(dirname "$0")/.."
if git grep -nE '\.\./shared|\.\./\.library|/work/shared' -- . ':!tests/no_outside_paths.sh'; then
  echo "no_outside_paths: the lines above refer to paths outside the repository" >&2
  exit 1
fi
echo "no_outside_paths: ok"
