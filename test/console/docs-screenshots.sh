#!/usr/bin/env bash
# Remakes the console screenshots in docs/console/ from the browser tests (test/console/console.test.ts and probes.test.ts):
# the test writes every screenshot it takes to a scratch folder; the pages docs/console.md shows are copied.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAGES=(login overview sessions-tree agents agent-edit resource-servers audit audit-bad-filter narrow-admin phone-overview phone-access-review probes)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
CONSOLE_SCREENSHOT_DIR="$scratch" node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js test/console/console.test.ts test/console/probes.test.ts
mkdir -p docs/console
for page in "${PAGES[@]}"; do cp "$scratch/$page.png" "docs/console/$page.png"; done
echo "docs/console: ${#PAGES[@]} screenshots"
