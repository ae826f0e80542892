#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/) from the repository's own
examples and GitHub's published webhook payloads.

    python3 fuzz/seeds.py PATH/TO/octokit-webhooks-examples/api.github.com/index.json

The payloads come from the npm package @octokit/webhooks-examples (`npm pack` it into a
temporary folder; 7.6.1 was used). Only a few of each kind are kept: the corpus stays small.
"""
import hashlib
import json
import pathlib
import re
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"

# As the webhook target reads its first two bytes (see props/webhook.rs).
EVENTS = ["pull_request", "pull_request_review", "ping", "merge_group", "issues", "push",
          "pull_request_review_comment", ""]
REPOSITORIES = ["Codertocat/Hello-World", "octo-org/octo-repo", "acme/access-requests",
                "codertocat/hello-world"]
BRANCHES = ["master", "main"]


def write(target, data, name=None):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = name or hashlib.sha1(data).hexdigest()[:16]
    (folder / f"seed-{name}").write_bytes(data)


def control(mode, repo, branch):
    return bytes([mode | (REPOSITORIES.index(repo) << 4) | (BRANCHES.index(branch) << 6)])


def webhook_seed(event, payload, mode=0):
    body = json.dumps(payload, separators=(",", ":")).encode()
    repo = (payload.get("repository") or {}).get("full_name", REPOSITORIES[0])
    repo = repo if repo in REPOSITORIES else REPOSITORIES[0]
    base = ((payload.get("pull_request") or {}).get("base") or {}).get("ref", "master")
    branch = base if base in BRANCHES else "master"
    return control(mode, repo, branch) + bytes([EVENTS.index(event)]) + body


def webhook(index_json):
    examples = {e["name"]: e["examples"] for e in json.load(open(index_json))}
    wanted = {
        "pull_request": ["opened", "closed", "synchronize", "reopened", "edited", "labeled"],
        "pull_request_review": ["submitted", "dismissed"],
        "ping": [None],
        "merge_group": ["checks_requested"],
        "issues": ["opened"],
        "push": [None],
    }
    for event, actions in wanted.items():
        for action in actions:
            found = [p for p in examples.get(event, []) if p.get("action") == action][:2]
            for payload in found[:2 if action == "closed" else 1]:
                write("webhook", webhook_seed(event, payload))
    fixture = json.load(open(ROOT / "tests" / "fixtures" / "pull_request.closed.json"))
    write("webhook", webhook_seed("pull_request", fixture))
    # The same delivery with its signature wrong in each way the target knows.
    for mode in range(3, 10):
        write("webhook", webhook_seed("pull_request", fixture, mode))


def requests():
    for path in (ROOT / "requests").rglob("*.toml"):
        write("request", path.read_text())
    reason = "The nightly export job uploads reports to S3."
    seeds = [
        f'iam_user = "svc-deploy"\nreason = "{reason}"\n',
        f'iam_user = "svc-deploy"\nreason = "{reason}"\nexpires_in_days = 30\n',
        f'iam_user = "deploy-bot"\nreason = "{reason}"\n'
        'readers = ["arn:aws:iam::123456789012:role/ci/deploy-pipeline"]\n',
        f'#path: requests/alice/ci.toml\niam_user = "bob"\nreason = "{reason}"\n',
        f'#path: requests/a,b/ci.toml\niam_user = "a,b"\nreason = "{reason}"\n',
        f'#path: requests/alice/my key.toml\niam_user = "alice"\nreason = "{reason}"\n',
        f'#path: requests/alice.toml\niam_user = "alice"\nreason = "{reason}"\n',
        f'iam_user = "alice"\nreason = "{reason}"\nexpire_in_days = 30\n',
        'iam_user = "alice"\nreason = "short"\nexpires_in_days = 0\n',
        'iam_user = "alice"\nreason = """\nmulti\nline reason here\n"""\n',
        'iam_user = "alice"\nreason = "理由：夜間バッチがS3にレポートを書き込むため"\n',
        'iam_user = "alice"\nreason = "a\\u200bb\\u200bc\\u200bd\\u200be"\n',
        'iam_user = "alice"\nreason = "unterminated\n',
        '[iam_user]\nreason = 5\n',
        '\ufeffiam_user = "alice"\r\nreason = "Windows line endings and a BOM"\r\n',
    ]
    for seed in seeds:
        write("request", seed)


def codeowners():
    write("codeowners", (ROOT / "CODEOWNERS").read_text())
    tests = ROOT / "src" / "policy" / "codeowners" / "tests"
    text = (tests / "mod.rs").read_text()
    example = re.search(r'const GITHUB_EXAMPLE: &str = "\\\n(.*?)";', text, re.S)
    if example:
        write("codeowners", example.group(1))
    pairs = re.findall(r'\("((?:[^"\\]|\\.)*)", "((?:[^"\\]|\\.)*)", (?:true|false)\)',
                       (tests / "matching.rs").read_text())
    for pattern, path in pairs:
        unescape = lambda s: s.encode().decode("unicode_escape")
        write("codeowners", f"{unescape(pattern)} @owner\n\0{unescape(path)}")
    write("codeowners", "*.md @docs\n/requests/ @acme/security\n/requests/alice/ alice@example.com\n"
          "/requests/alice/ci.toml\n\0requests/alice/ci.toml\nrequests/bob/x.toml\nREADME.md")
    write("codeowners", "a\\ b @x\n\\#c @y\nd?e/**/f* @z\n!neg @q\n[ab] @r\n/x// @s\n")


def config():
    write("config", (ROOT / "keygate.example.toml").read_text())
    write("config", "")
    write("config", "[github]\nrepository = \"acme/requests\"\napp_id = 1\n"
          "#env KEYGATE_POLICY_DENIED_USERS=admin*,root\n#env KEYGATE_SERVER_CONCURRENCY=8\n")
    write("config", "[server]\nconcurrency = \"four\"\n")
    write("config", "[github]\nrepo = \"a/b\"\n")
    write("config", "[lifecycle]\nreconcile_since = 2026-01-01T00:00:00Z\n")
    write("config", "[store]\nbackend = \"dynamodb\"\ntable = \"keygate\"\n[queue]\nbackend = \"sqs\"\n"
          "url = \"https://sqs.us-east-1.amazonaws.com/123456789012/keygate.fifo\"\n")
    write("config", "[policy]\nrequests_dir = \"/access/\"\nallowed_users = [\"[a\"]\n")
    write("config", "#env KEYGATE_GITHUB_WEBHOOK_SECRET=\n")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for target in ["request", "codeowners", "webhook", "config"]:
        shutil.rmtree(CORPUS / target, ignore_errors=True)
    requests()
    codeowners()
    webhook(sys.argv[1])
    config()


if __name__ == "__main__":
    main()
