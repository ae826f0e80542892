#!/usr/bin/env bash
# Extracts the `pull_request` and `pull_request_review` webhook examples GitHub publishes
# (npm package @octokit/webhooks-examples: github.com's, and each GitHub Enterprise Server
# release's) into tests/fixtures/webhook-examples.json, which the payload tolerance test
# (tests/it/webhook_examples.rs) converts one by one.
#
# Usage: scripts/extract-webhook-examples.sh [VERSION]   (default: the version below)
# Needs npm and python3.
set -euo pipefail

VERSION="${1:-7.6.1}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/tests/fixtures/webhook-examples.json"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && npm pack --silent "@octokit/webhooks-examples@$VERSION" >/dev/null)
tar -xzf "$TMP"/octokit-webhooks-examples-*.tgz -C "$TMP"

PACKAGE="$TMP/package" VERSION="$VERSION" python3 - > "$OUT" <<'PY'
import json, os, pathlib
package = pathlib.Path(os.environ["PACKAGE"])
out = {"package": f"@octokit/webhooks-examples@{os.environ['VERSION']}", "sources": {}}
for index in sorted(package.glob("*/index.json")):
    events = {
        e["name"]: e["examples"]
        for e in json.loads(index.read_text())
        if e["name"] in ("pull_request", "pull_request_review")
    }
    out["sources"][index.parent.name] = events
print(json.dumps(out, separators=(",", ":"), sort_keys=True))
PY
echo "wrote $OUT ($(wc -c < "$OUT") bytes)" >&2
