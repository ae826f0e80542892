//! `CODEOWNERS` parsing and matching with GitHub's semantics.
//!
//! keygate decides who may approve a request file from the base branch's
//! `CODEOWNERS` (DESIGN.md §2 point 2), so this module must give exactly the
//! answer GitHub gives:
//!
//! * Lines are `pattern owner owner ...`; blank lines and `#` comments are
//!   ignored, and a `#` that starts a token begins a trailing comment.
//! * Patterns follow gitignore rules with GitHub's exceptions: no `!`
//!   negation, no `[ ]` character ranges, and `\#` escapes a leading `#`.
//! * The **last** matching line decides; a line without owners means the
//!   matched paths have no owner.
//! * Invalid lines are skipped for matching (as GitHub does) and reported in
//!   [`CodeOwners::errors`], so that the caller can fail closed.
//! * Matching is case-sensitive, as on GitHub ("CODEOWNERS paths are case
//!   sensitive, because GitHub uses a case sensitive file system").
//!
//! All rules are compiled into one [`globset::GlobSet`] (one glob per rule);
//! a path and its ancestor directories are matched against it and the
//! highest matching rule index wins.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

mod owners;
mod patterns;

pub use owners::{Owner, is_valid_login};
use patterns::{Reach, Segment, parse_line, segments_match};

/// Where GitHub looks for CODEOWNERS, in order; the first that exists is used.
pub const LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

/// GitHub ignores CODEOWNERS files of this size or more (3 MB); the caller enforces it.
pub const MAX_SIZE: usize = 3 * 1024 * 1024;

/// One valid CODEOWNERS line.
#[derive(Debug, Clone)]
pub struct Rule {
    /// 1-based line number in the file.
    pub line: usize,
    /// The pattern as written (after un-escaping `\#` and `\ `).
    pub pattern: String,
    /// May be empty: the path then has no owner.
    pub owners: Vec<Owner>,
    /// The glob (as added to the set) that names what the pattern designates.
    glob: String,
    /// Whether the pattern reaches the path itself, what is beneath it, or both.
    reach: Reach,
    /// The pattern, parsed (with a leading `**` when unanchored).
    segments: Vec<Segment>,
    /// The pattern uses `?`: globset matches `?` against one *byte*, so the
    /// glob has `?` widened to `*` and each hit is confirmed against
    /// `segments`, where `?` matches one Unicode character.
    confirm: bool,
}

impl Rule {
    /// The glob this rule compiles to, for diagnostics. A rule also covers
    /// everything beneath a directory its glob matches, unless its pattern
    /// ends with `/*` (direct children only) or `/**`.
    pub fn glob(&self) -> &str {
        &self.glob
    }

    /// Does this rule's glob, matched against `prefix` (the path itself when
    /// `is_full`, else one of its ancestor directories), cover the path?
    fn covers(&self, prefix: &str, is_full: bool) -> bool {
        let reach_ok = match self.reach {
            Reach::Beneath => !is_full,
            Reach::Itself => is_full,
            Reach::ItselfAndBeneath => true,
        };
        reach_ok
            && (!self.confirm || {
                let components: Vec<&str> = prefix.split('/').collect();
                segments_match(&self.segments, &components)
            })
    }
}

/// An invalid CODEOWNERS line: GitHub skips it, keygate reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct LineError {
    /// 1-based line number (0 only for a problem with the file as a whole).
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// The line as written (without its line ending).
    pub text: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// A parsed CODEOWNERS file with its compiled matcher.
#[derive(Debug, Clone)]
pub struct CodeOwners {
    rules: Vec<Rule>,
    errors: Vec<LineError>,
    set: GlobSet,
    /// Glob index in `set` → rule index in `rules`.
    glob_rule: Vec<usize>,
}

impl Default for CodeOwners {
    fn default() -> Self {
        CodeOwners {
            rules: Vec::new(),
            errors: Vec::new(),
            set: GlobSet::empty(),
            glob_rule: Vec::new(),
        }
    }
}

impl CodeOwners {
    /// Never fails: invalid lines are recorded in `errors()` and ignored for matching, as GitHub does.
    pub fn parse(text: &str) -> CodeOwners {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        let mut builder = GlobSetBuilder::new();
        let mut glob_rule = Vec::new();

        for (index, raw) in text.split('\n').enumerate() {
            let line_no = index + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            match parse_line(line) {
                Ok(None) => {}
                Ok(Some(parsed)) => {
                    // Case-sensitive on purpose: GitHub's matching is.
                    let compiled = GlobBuilder::new(&parsed.glob)
                        .literal_separator(true)
                        .backslash_escape(true)
                        .case_insensitive(false)
                        .build();
                    match compiled {
                        Ok(glob) => {
                            builder.add(glob);
                            glob_rule.push(rules.len());
                            rules.push(Rule {
                                line: line_no,
                                pattern: parsed.pattern,
                                owners: parsed.owners,
                                glob: parsed.glob,
                                reach: parsed.reach,
                                segments: parsed.segments,
                                confirm: parsed.confirm,
                            });
                        }
                        Err(e) => errors.push(LineError {
                            line: line_no,
                            column: parsed.pattern_column,
                            text: line.to_owned(),
                            message: format!(
                                "pattern `{}` cannot be compiled ({e}); simplify it",
                                parsed.pattern
                            ),
                        }),
                    }
                }
                Err((column, message)) => errors.push(LineError {
                    line: line_no,
                    column,
                    text: line.to_owned(),
                    message,
                }),
            }
        }

        let set = match builder.build() {
            Ok(set) => set,
            Err(e) => {
                // Fail closed: nothing matches, and the caller sees why.
                errors.push(LineError {
                    line: 0,
                    column: 0,
                    text: String::new(),
                    message: format!(
                        "the CODEOWNERS patterns cannot be compiled together ({e}); \
                         use fewer or simpler patterns"
                    ),
                });
                glob_rule.clear();
                GlobSet::empty()
            }
        };
        CodeOwners {
            rules,
            errors,
            set,
            glob_rule,
        }
    }

    /// The valid rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The invalid lines, in file order. GitHub skips them; keygate refuses to
    /// issue while there is any.
    pub fn errors(&self) -> &[LineError] {
        &self.errors
    }

    /// True when every line is valid.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// The rule that decides `path` (repository-relative, '/' separated, no leading '/'):
    /// the LAST matching rule, or None when no line matches.
    ///
    /// A leading `/` on `path` is tolerated and ignored.
    pub fn rule_for(&self, path: &str) -> Option<&Rule> {
        let mut best: Option<usize> = None;
        self.for_each_match(path, |index| {
            if best.is_none_or(|b| index > b) {
                best = Some(index);
            }
        });
        best.and_then(|index| self.rules.get(index))
    }

    /// Every rule that matches `path`, in file order (the last one decides).
    /// Useful to explain a decision.
    pub fn matching_rules(&self, path: &str) -> Vec<&Rule> {
        let mut indices = Vec::new();
        self.for_each_match(path, |index| indices.push(index));
        indices.sort_unstable();
        indices.dedup();
        indices
            .into_iter()
            .filter_map(|index| self.rules.get(index))
            .collect()
    }

    /// Calls `found` with the index of every rule that matches `path` (a rule
    /// may be reported more than once).
    ///
    /// gitignore semantics: a pattern that matches a directory covers
    /// everything beneath it. Instead of compiling `glob` and `glob/**` for
    /// every rule (slow: every `/**` glob lands in globset's regex engine),
    /// the one set of plain globs is matched against the path and against
    /// each of its ancestor directories; each rule's [`Reach`] then says
    /// which of those hits count.
    fn for_each_match(&self, path: &str, mut found: impl FnMut(usize)) {
        let path = path.strip_prefix('/').unwrap_or(path);
        if path.is_empty() || self.rules.is_empty() {
            return;
        }
        let mut hits = Vec::new();
        let ends = path
            .match_indices('/')
            .map(|(i, _)| i)
            .chain(std::iter::once(path.len()));
        for end in ends {
            let Some(prefix) = path.get(..end).filter(|p| !p.is_empty()) else {
                continue;
            };
            let is_full = end == path.len();
            self.set.matches_into(prefix, &mut hits);
            for &glob in &hits {
                let Some(&index) = self.glob_rule.get(glob) else {
                    continue;
                };
                if self
                    .rules
                    .get(index)
                    .is_some_and(|rule| rule.covers(prefix, is_full))
                {
                    found(index);
                }
            }
        }
    }

    /// Convenience: owners of path (empty slice when no match or rule has no owners).
    pub fn owners_of(&self, path: &str) -> &[Owner] {
        self.rule_for(path)
            .map_or(&[], |rule| rule.owners.as_slice())
    }
}

#[cfg(test)]
mod tests;
