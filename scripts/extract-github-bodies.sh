#!/usr/bin/env bash
# Extracts the request-body schemas of the GitHub REST operations the stand-in
# accepts writes on from GitHub's published API description (npm package
# @octokit/openapi), into tests/fixtures/github-request-bodies.json. The stand-in
# loads that fixture and rejects bodies the description does not allow.
#
# Usage: scripts/extract-github-bodies.sh [VERSION]   (default: the version below)
# Needs npm and node. Re-run it when the stand-in serves a new write, after adding
# the operation to OPERATIONS below.
set -euo pipefail

VERSION="${1:-23.0.2}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/tests/fixtures/github-request-bodies.json"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && npm pack --silent "@octokit/openapi@$VERSION" >/dev/null)
tar -xzf "$TMP"/octokit-openapi-*.tgz -C "$TMP" package/generated/api.github.com.json

OPERATIONS='[
  ["post", "/app/installations/{installation_id}/access_tokens"],
  ["post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"],
  ["patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"],
  ["post", "/repos/{owner}/{repo}/check-runs"],
  ["patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"]
]'

SPEC="$TMP/package/generated/api.github.com.json" VERSION="$VERSION" OPERATIONS="$OPERATIONS" \
node > "$OUT" <<'JS'
const spec = require(process.env.SPEC);
const operations = JSON.parse(process.env.OPERATIONS);
// Annotations only: they do not change what a body may hold.
const dropped = new Set(["description", "example", "examples", "title", "externalDocs"]);

// Resolves $ref and drops annotations; the keys of a `properties` map are
// property names, kept whatever they are called.
function clean(node, isPropertyMap = false) {
  if (Array.isArray(node)) return node.map((n) => clean(n));
  if (node === null || typeof node !== "object") return node;
  if (node.$ref) {
    const path = node.$ref.replace(/^#\//, "").split("/");
    return clean(path.reduce((n, key) => n[key], spec));
  }
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (!isPropertyMap && dropped.has(key)) continue;
    out[key] = clean(value, !isPropertyMap && key === "properties");
  }
  return out;
}

const result = {
  source: `@octokit/openapi ${process.env.VERSION}, generated/api.github.com.json`,
  operations: {},
};
for (const [method, path] of operations) {
  const op = spec.paths[path] && spec.paths[path][method];
  if (!op) throw new Error(`the description has no ${method.toUpperCase()} ${path}`);
  const body = op.requestBody || { required: false, content: {} };
  const media = body.content["application/json"];
  result.operations[`${method.toUpperCase()} ${path}`] = {
    operationId: op.operationId,
    documentation_url: op.externalDocs && op.externalDocs.url,
    required: Boolean(body.required),
    schema: media ? clean(media.schema) : null,
  };
}
process.stdout.write(JSON.stringify(result, null, 1) + "\n");
JS
echo "wrote $OUT"
