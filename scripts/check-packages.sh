#!/usr/bin/env bash
# Packs both packages as npm would publish them and lints the tarballs: publint --strict (package.json, exports,
# files) and Are the Types Wrong with the esm-only profile (both packages are ESM only: CommonJS and node10
# resolution are out of scope; Node >= 20.19 can require() them all the same).
set -euo pipefail
cd "$(dirname "$0")/.."

npx tsc -b packages/auth/tsconfig.build.json packages/server/tsconfig.build.json
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npm pack --silent -w tessera-auth -w tessera-auth-server --pack-destination "$out" >/dev/null
for tarball in "$out"/*.tgz; do
  npx publint run --strict "$tarball"
  # Quiet when clean; on a problem, print the full report (and fail).
  if npx attw "$tarball" --profile esm-only --quiet; then
    echo "attw --profile esm-only: $(basename "$tarball") has no problems"
  else
    npx attw "$tarball" --profile esm-only --format ascii --no-emoji --no-color
  fi
done
