#!/usr/bin/env python3
"""Every link in the repository's documentation resolves inside the repository.

Reads README.md, CHANGELOG.md, the book (docs/src) and the other Markdown files people read
(requests/, templates/), and checks each relative link: the file or folder exists inside the
repository, and a `#anchor` names a heading of the Markdown file it points to (as GitHub and
mdBook spell heading anchors). Links inside code are not links. Web addresses are not
fetched. It also fails on references to documents a reader of the repository does not have
(a design file in another folder, an issue tracker's numbers).

Run with any Python 3 (./scripts/test runs it). Exit 0 when every link resolves, 1 with one
line per dead link otherwise; `--self-test` checks the checker on made-up files.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Files people read, relative to the root; folders are searched for *.md.
SOURCES = ["README.md", "CHANGELOG.md", "docs/src", "requests", "templates", "deploy"]

INLINE = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# Pages whose every link must stay inside the repository, web addresses included.
FRONT_PAGES = {"README.md"}
# What a reader of this repository cannot follow.
ELSEWHERE = [
    (re.compile(r"DESIGN\.md"), "a design document outside the repository"),
    (re.compile(r"shared folder"), "a folder outside the repository"),
    (re.compile(r"\bissue #\d+", re.IGNORECASE), "an issue number of a tracker outside it"),
]


def prose_lines(text: str):
    """(line number, line) outside fenced code, with inline code blanked out."""
    fenced = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        yield n, re.sub(r"(`+)(.+?)\1", lambda m: " " * len(m.group(0)), line)


def slug(heading: str) -> str:
    """A heading's anchor as GitHub and mdBook make it."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    out = []
    for c in text:
        if c.isalnum() or c in "-_":
            out.append(c)
        elif c == " ":
            out.append("-")
    return "".join(out)


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else HEADING.match(line)
        if m:
            base = slug(m.group(2))
            name, i = base, 1
            while name in found:
                name, i = f"{base}-{i}", i + 1
            found.add(name)
    return found


def targets(text: str):
    for n, line in prose_lines(text):
        for m in INLINE.finditer(line):
            yield n, m.group(1)
        m = REFERENCE.match(line)
        if m:
            yield n, m.group(1)


def check_file(path: Path, root: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(root)
    problems = []
    for n, line in prose_lines(text):
        for pattern, what in ELSEWHERE:
            if pattern.search(line):
                problems.append(f"{rel}:{n}: refers to {what}: {line.strip()}")
    for n, target in targets(text):
        if SCHEME.match(target) and rel.as_posix() in FRONT_PAGES:
            problems.append(f"{rel}:{n}: {target}: the front page links only inside the repository")
            continue
        if SCHEME.match(target) or target.startswith("{{"):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        try:
            dest.relative_to(root)
        except ValueError:
            problems.append(f"{rel}:{n}: {target} points outside the repository")
            continue
        if not dest.exists():
            problems.append(f"{rel}:{n}: {target}: no such file")
            continue
        if anchor:
            if dest.is_dir() or dest.suffix != ".md":
                problems.append(f"{rel}:{n}: {target}: an anchor into something not Markdown")
            elif anchor not in anchors(dest):
                problems.append(f"{rel}:{n}: {target}: no heading #{anchor} in {dest.relative_to(root)}")
    return problems


def markdown_files(root: Path) -> list[Path]:
    files = []
    for source in SOURCES:
        p = root / source
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            files.extend(sorted(p.rglob("*.md")))
    return files


def check(root: Path) -> tuple[int, list[str]]:
    files = markdown_files(root)
    problems = [p for f in files for p in check_file(f, root)]
    return len(files), problems


def self_test() -> list[str]:
    """The checker finds what it must, and passes what it must."""
    failures = []
    with tempfile.TemporaryDirectory() as d:
        root = Path(d).resolve()
        (root / "docs" / "src").mkdir(parents=True)
        (root / "README.md").write_text(
            "# Top\n\n## The `keygate` check run\n\n"
            "[ok](docs/src/a.md#a-title) [ok](#the-keygate-check-run) [ok](docs/src)\n"
            "`[not a link](nowhere.md)`\n```\n[not a link](nowhere.md)\n```\n"
        )
        (root / "docs" / "src" / "web.md").write_text("[web](https://example.org/x#y)\n")
        (root / "docs" / "src" / "a.md").write_text(
            "# A title\n\n[dead](missing.md) [bad anchor](../../README.md#nope)\n"
            "[outside](../../../etc/passwd)\nSee DESIGN.md and issue #12.\n[ref]: b.md\n"
        )
        (root / "README.md").write_text(
            (root / "README.md").read_text() + "[away](https://example.org/)\n"
        )
        _, problems = check(root)
        want = ["missing.md", "#nope", "outside the repository", "design document", "issue number", "b.md", "front page"]
        for w in want:
            if not any(w in p for p in problems):
                failures.append(f"self-test: the checker missed {w!r}: {problems}")
        if [p for p in problems if p.startswith("README.md") and "front page" not in p]:
            failures.append(f"self-test: a good link was refused: {problems}")
        if len(problems) != len(want):
            failures.append(f"self-test: {len(problems)} problems, {len(want)} expected: {problems}")
    return failures


def main() -> int:
    failures = self_test()
    count, problems = check(ROOT)
    failures += problems
    for f in failures:
        print(f"links: {f}", file=sys.stderr)
    if not failures:
        print(f"links: every link of {count} Markdown files resolves inside the repository")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
