//! CODEOWNERS parsing and matching (`keygate::policy::codeowners`).
//!
//! Input: a CODEOWNERS file; after a NUL byte, optionally, the paths to ask about, one per line.
//! Without them, paths are made from the file's own patterns (each wildcard filled in, with a
//! child and a parent of each), plus a few fixed ones, so most questions hit some rule.
//!
//! Two runners call `check`: the fuzz target `fuzz/fuzz_targets/codeowners.rs` (coverage-guided,
//! nightly, `scripts/fuzz`) and keygate's test `tests/it/fuzz_replay.rs` (the seeds and a fixed
//! set of their mutations, on stable, in `./scripts/test`).
//!
//! Properties, beyond "no panic":
//! - a path's owners are exactly those of the last line that matches it, where "matches" is
//!   decided by the reference matcher below: GitHub's gitignore-style rules written out
//!   plainly over the parsed rules' patterns (no globset), and the same for the list of every
//!   matching line;
//! - every rule and every invalid line sits on a line that exists, rules in file order, and
//!   `is_valid` says whether there is an invalid line.

use keygate::policy::codeowners::{CodeOwners, Rule};

// ---------------------------------------------------------------------------------------------
// The reference matcher: the module's documented semantics, as directly as they can be written.

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(char),
    /// `?`: one character.
    One,
    /// `*`: any run of characters within one path component.
    Many,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// `**` as a whole segment: zero or more components (one or more when last).
    AnyDirs,
    Name(Vec<Piece>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Reach {
    Itself,
    Beneath,
    Both,
}

/// A pattern as `Rule::pattern` shows it: escapes kept as `\x`, except `\#` and `\ ` (shown as
/// the bare character, which is literal there anyway).
fn compile(pattern: &str) -> (Vec<Segment>, Reach) {
    // Split into segments of (char, escaped); an escaped `/` separates like a bare one.
    let mut parts: Vec<Vec<(char, bool)>> = vec![Vec::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let (c, escaped) = match c {
            '\\' => (chars.next().unwrap_or('\\'), true),
            c => (c, false),
        };
        if c == '/' {
            parts.push(Vec::new());
        } else if let Some(last) = parts.last_mut() {
            last.push((c, escaped));
        }
    }
    let leading = parts.first().is_some_and(Vec::is_empty) && parts.len() > 1;
    if leading {
        parts.remove(0);
    }
    let trailing = parts.last().is_some_and(Vec::is_empty) && parts.len() > 1;
    if trailing {
        parts.pop();
    }
    let anchored = leading || parts.len() > 1;
    let mut segments = Vec::new();
    if !anchored {
        segments.push(Segment::AnyDirs);
    }
    for part in parts {
        if part == [('*', false), ('*', false)] {
            segments.push(Segment::AnyDirs);
            continue;
        }
        let mut pieces = Vec::new();
        for (c, escaped) in part {
            let piece = match (c, escaped) {
                ('*', false) => Piece::Many,
                ('?', false) => Piece::One,
                (c, _) => Piece::Literal(c),
            };
            if !(piece == Piece::Many && pieces.last() == Some(&Piece::Many)) {
                pieces.push(piece);
            }
        }
        segments.push(Segment::Name(pieces));
    }
    let reach = match segments.last() {
        Some(Segment::AnyDirs) => Reach::Itself,
        _ if trailing => Reach::Beneath,
        Some(Segment::Name(p)) if p.as_slice() == [Piece::Many] => Reach::Itself,
        _ => Reach::Both,
    };
    (segments, reach)
}

/// Does one component match its pieces? `at[i][j]`: pieces `i..` match characters `j..`.
fn name_matches(pieces: &[Piece], name: &[char]) -> bool {
    let (p, n) = (pieces.len(), name.len());
    let mut at = vec![vec![false; n + 1]; p + 1];
    at[p][n] = true;
    for i in (0..p).rev() {
        for j in (0..=n).rev() {
            at[i][j] = match &pieces[i] {
                Piece::Many => at[i + 1][j] || (j < n && at[i][j + 1]),
                Piece::One => j < n && at[i + 1][j + 1],
                Piece::Literal(c) => j < n && name[j] == *c && at[i + 1][j + 1],
            };
        }
    }
    at[0][0]
}

/// Do the segments match exactly these components? `at[i][j]`: segments `i..` match
/// components `j..`.
fn segments_match(segments: &[Segment], components: &[&str]) -> bool {
    let (s, c) = (segments.len(), components.len());
    let names: Vec<Vec<char>> = components.iter().map(|c| c.chars().collect()).collect();
    let mut at = vec![vec![false; c + 1]; s + 1];
    at[s][c] = true;
    for i in (0..s).rev() {
        for j in (0..=c).rev() {
            at[i][j] = match &segments[i] {
                // Zero components here (not when last: then at least one), or one more.
                Segment::AnyDirs => {
                    (i + 1 < s && at[i + 1][j]) || (j < c && (at[i + 1][j + 1] || at[i][j + 1]))
                }
                Segment::Name(pieces) => {
                    j < c && name_matches(pieces, &names[j]) && at[i + 1][j + 1]
                }
            };
        }
    }
    at[0][0]
}

/// Does the rule cover `path`: does its pattern match the path itself, or one of the path's
/// ancestor directories, as its reach allows?
fn covers(rule: &Rule, path: &str) -> bool {
    let (segments, reach) = compile(&rule.pattern);
    let components: Vec<&str> = path.split('/').collect();
    (1..=components.len()).any(|k| {
        let itself = k == components.len();
        let allowed = match reach {
            Reach::Itself => itself,
            Reach::Beneath => !itself,
            Reach::Both => true,
        };
        allowed && segments_match(&segments, &components[..k])
    })
}

// ---------------------------------------------------------------------------------------------
// Which paths to ask about.

/// A path the pattern names, with its wildcards filled in.
fn example_of(pattern: &str) -> String {
    let filled = pattern
        .trim_start_matches('/')
        .replace("\\ ", " ")
        .replace('\\', "")
        .replace("**", "d/e")
        .replace('*', "x")
        .replace('?', "q");
    if filled.ends_with('/') {
        format!("{filled}f")
    } else {
        filled
    }
}

/// A path a repository can hold: git refuses empty, `.` and `..` components, so GitHub never
/// lists one (a fuzz run asked about `../child.toml`, which no pull request can touch).
fn well_formed(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && path.len() <= 512
}

fn paths(owners: &CodeOwners, given: Option<&str>) -> Vec<String> {
    let mut paths: Vec<String> = match given {
        Some(list) => list.split('\n').map(str::to_owned).collect(),
        None => {
            let mut paths = vec![
                "README.md".to_owned(),
                "requests/alice/ci.toml".into(),
                "requests/README.md".into(),
                "docs/a/b.md".into(),
                ".github/CODEOWNERS".into(),
            ];
            for rule in owners.rules().iter().take(64) {
                let example = example_of(&rule.pattern);
                paths.push(format!("{example}/child.toml"));
                if let Some((parent, _)) = example.rsplit_once('/') {
                    paths.push(parent.to_owned());
                }
                paths.push(example);
            }
            paths
        }
    };
    paths.retain(|p| well_formed(p));
    paths.truncate(256);
    paths
}

/// Checks the properties above on one input; panics, saying which, when one fails.
pub fn check(bytes: &[u8]) {
    let (text, given) = match bytes.iter().position(|b| *b == 0) {
        Some(nul) => (
            &bytes[..nul],
            Some(String::from_utf8_lossy(&bytes[nul + 1..])),
        ),
        None => (bytes, None),
    };
    let text = String::from_utf8_lossy(text);
    let owners = CodeOwners::parse(&text);

    let line_count = text.split('\n').count();
    assert_eq!(
        owners.is_valid(),
        owners.errors().is_empty(),
        "is_valid disagrees with the invalid lines {:?}",
        owners.errors()
    );
    let mut previous = 0;
    for rule in owners.rules() {
        assert!(
            rule.line > previous && rule.line <= line_count,
            "rule on line {}",
            rule.line
        );
        previous = rule.line;
    }
    for error in owners.errors() {
        assert!(error.line <= line_count, "error on line {}", error.line);
        assert!(
            !error.message.is_empty(),
            "line {}: an empty message",
            error.line
        );
    }

    for path in paths(&owners, given.as_deref()) {
        let matching: Vec<&Rule> = owners.rules().iter().filter(|r| covers(r, &path)).collect();
        let expected = if owners.errors().iter().any(|e| e.line == 0) {
            // The patterns could not be compiled together: nothing matches (fail closed).
            None
        } else {
            matching.last().map(|r| r.line)
        };
        let decided = owners.rule_for(&path);
        assert_eq!(
            decided.map(|r| r.line),
            expected,
            "{path:?}: keygate's deciding line against the reference's; matching {:?}",
            matching
                .iter()
                .map(|r| (r.line, &r.pattern))
                .collect::<Vec<_>>()
        );
        let want = match expected {
            Some(_) => matching.last().map_or(&[][..], |r| r.owners.as_slice()),
            None => &[][..],
        };
        assert_eq!(owners.owners_of(&path), want, "{path:?}");
        if expected.is_some() {
            let listed: Vec<usize> = owners
                .matching_rules(&path)
                .iter()
                .map(|r| r.line)
                .collect();
            let reference: Vec<usize> = matching.iter().map(|r| r.line).collect();
            assert_eq!(listed, reference, "{path:?}: every matching line");
        }
    }
}
