#!/usr/bin/env bash
# One command for the real-VM tier: prepare it (as root), build the TypeScript, run test/realvm with
# VDSM_REALVM=1 so a missing piece fails instead of skipping.
#   bash scripts/realvm/run-tests.sh [OUTDIR]      # OUTDIR defaults to dist
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-dist}
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/realvm/setup.sh
else
  echo "run-tests: not root, skipping setup.sh (run it once as root)" >&2
fi
npx tsc -p tsconfig.json --outDir "$OUT" --tsBuildInfoFile "$OUT/.tsbuildinfo" || true  # others' type errors still emit
VDSM_REALVM=1 node --test --test-concurrency=2 "$OUT/test/realvm/"
