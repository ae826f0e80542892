//! CODEOWNERS tests: GitHub's own example file here; matching and invalid lines beside it.

use super::*;

mod lines;
mod matching;

/// Expected decision for one path: the winning line (None: no line
/// matches) and the owners as displayed.
type Expect<'a> = (&'a str, Option<usize>, &'a [&'a str]);

fn shown(owners: &[Owner]) -> Vec<String> {
    owners.iter().map(ToString::to_string).collect()
}

/// Parses `text`, requires it to be valid, and checks every case.
fn check(text: &str, cases: &[Expect<'_>]) -> CodeOwners {
    let co = CodeOwners::parse(text);
    assert!(
        co.errors().is_empty(),
        "unexpected errors: {:?}",
        co.errors()
    );
    check_parsed(&co, cases);
    co
}

fn check_parsed(co: &CodeOwners, cases: &[Expect<'_>]) {
    for &(path, line, owners) in cases {
        let rule = co.rule_for(path);
        assert_eq!(
            rule.map(|r| r.line),
            line,
            "winning line for {path:?} (rules: {:?})",
            co.rules()
        );
        assert_eq!(shown(co.owners_of(path)), owners, "owners of {path:?}");
        if let Some(rule) = rule {
            assert_eq!(shown(&rule.owners), owners, "rule owners for {path:?}");
        }
    }
}

/// The 1-based number of the last line of `text` equal to `line`.
fn last_line_of(text: &str, line: &str) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| *l == line)
        .map(|(i, _)| i + 1)
        .last()
        .unwrap_or_else(|| panic!("{line:?} not in text"))
}

/// Parses `text` and returns its errors as (line, column).
fn error_positions(text: &str) -> Vec<(usize, usize)> {
    CodeOwners::parse(text)
        .errors()
        .iter()
        .map(|e| (e.line, e.column))
        .collect()
}

// -- GitHub's "About code owners" example file -------------------------

const GITHUB_EXAMPLE: &str = "\
# This is a comment.
# Each line is a file pattern followed by one or more owners.

# These owners will be the default owners for everything in
# the repo. Unless a later match takes precedence,
# @global-owner1 and @global-owner2 will be requested for
# review when someone opens a pull request.
*       @global-owner1 @global-owner2

# Order is important; the last matching pattern takes the most
# precedence. When someone opens a pull request that only
# modifies JS files, only @js-owner and not the global
# owner(s) will be requested for a review.
*.js    @js-owner #This is an inline comment.

# You can also use email addresses if you prefer. They'll be
# used to look up users just like we do for commit author
# emails.
*.go docs@example.com

# Teams can be specified as code owners as well. Teams should
# be identified in the format @org/team-name. Teams must have
# explicit write access to the repository. In this example,
# the octocats team in the octo-org organization owns all .txt files.
*.txt @octo-org/octocats

# In this example, @doctocat owns any files in the build/logs
# directory at the root of the repository and any of its
# subdirectories.
/build/logs/ @doctocat

# The `docs/*` pattern will match files like
# `docs/getting-started.md` but not further nested files like
# `docs/build-app/troubleshooting.md`.
docs/*  docs@example.com

# In this example, @octocat owns any file in an apps directory
# anywhere in your repository.
apps/ @octocat

# In this example, @doctocat owns any file in the `/docs`
# directory in the root of your repository and any of its
# subdirectories.
/docs/ @doctocat

# In this example, any change inside the `/scripts` directory
# will require approval from @doctocat or @octocat.
/scripts/ @doctocat @octocat

# In this example, @octocat owns any file in a `/logs` directory such as
# `/build/logs`, `/scripts/logs`, and `/deeply/nested/logs`. Any changes
# in a `/logs` directory will require approval from @octocat.
**/logs @octocat

# In this example, @octocat owns any file in the `/apps`
# directory in the root of your repository except for the `/apps/github`
# subdirectory, as its owners are left empty. Without an owner, changes
# to `apps/github` can be made with the approval of any user who has
# write access to the repository.
/apps/ @octocat
/apps/github

# In this example, @octocat owns any file in the `/apps`
# directory in the root of your repository except for the `/apps/github`
# subdirectory, as this subdirectory has its own owner @doctocat
/apps/ @octocat
/apps/github @doctocat
";

#[test]
fn github_example_file_parses_without_errors_into_fourteen_rules() {
    let co = CodeOwners::parse(GITHUB_EXAMPLE);
    assert!(co.errors().is_empty(), "{:?}", co.errors());
    let patterns: Vec<&str> = co.rules().iter().map(|r| r.pattern.as_str()).collect();
    assert_eq!(
        patterns,
        [
            "*",
            "*.js",
            "*.go",
            "*.txt",
            "/build/logs/",
            "docs/*",
            "apps/",
            "/docs/",
            "/scripts/",
            "**/logs",
            "/apps/",
            "/apps/github",
            "/apps/",
            "/apps/github",
        ]
    );
    let js = &co.rules()[1];
    assert_eq!(js.line, 14);
    assert_eq!(js.owners, [Owner::User("js-owner".into())]);
    assert!(co.rules()[11].owners.is_empty());
}

#[test]
fn github_example_file_decides_each_path_by_its_last_matching_line() {
    let t = GITHUB_EXAMPLE;
    let star = last_line_of(t, "*       @global-owner1 @global-owner2");
    let js = last_line_of(t, "*.js    @js-owner #This is an inline comment.");
    let go = last_line_of(t, "*.go docs@example.com");
    let txt = last_line_of(t, "*.txt @octo-org/octocats");
    let apps_any = last_line_of(t, "apps/ @octocat");
    let docs_root = last_line_of(t, "/docs/ @doctocat");
    let scripts = last_line_of(t, "/scripts/ @doctocat @octocat");
    let logs = last_line_of(t, "**/logs @octocat");
    let apps_root = last_line_of(t, "/apps/ @octocat");
    let apps_github = last_line_of(t, "/apps/github @doctocat");
    let global: &[&str] = &["@global-owner1", "@global-owner2"];
    check(
        t,
        &[
            ("README.md", Some(star), global),
            ("x/docs/guide.md", Some(star), global),
            ("src/index.js", Some(js), &["@js-owner"]),
            ("index.js", Some(js), &["@js-owner"]),
            ("cmd/tool/main.go", Some(go), &["docs@example.com"]),
            ("notes/todo.txt", Some(txt), &["@octo-org/octocats"]),
            // `**/logs` comes after `/build/logs/` and wins there.
            ("build/logs/out.log", Some(logs), &["@octocat"]),
            ("build/logs/2024/out.txt", Some(logs), &["@octocat"]),
            // `/docs/` comes after `docs/*` and wins at every depth.
            ("docs/getting-started.md", Some(docs_root), &["@doctocat"]),
            (
                "docs/build-app/troubleshooting.md",
                Some(docs_root),
                &["@doctocat"],
            ),
            ("lib/apps/b/c.rb", Some(apps_any), &["@octocat"]),
            ("apps/main.rb", Some(apps_root), &["@octocat"]),
            ("apps/github/app.rb", Some(apps_github), &["@doctocat"]),
            (
                "scripts/deploy.sh",
                Some(scripts),
                &["@doctocat", "@octocat"],
            ),
            ("scripts/logs/run.log", Some(logs), &["@octocat"]),
            ("deeply/nested/logs/a.js", Some(logs), &["@octocat"]),
        ],
    );
}

#[test]
fn github_example_star_gives_every_path_the_global_owners() {
    let global: &[&str] = &["@global-owner1", "@global-owner2"];
    check(
        "*       @global-owner1 @global-owner2\n",
        &[
            ("README.md", Some(1), global),
            ("a/b/c/d.rs", Some(1), global),
            (".github/workflows/ci.yml", Some(1), global),
            ("requests/alice/key.toml", Some(1), global),
        ],
    );
}

#[test]
fn github_example_js_rule_matches_at_any_depth_and_ignores_inline_comment() {
    let co = check(
        "* @global-owner1\n*.js    @js-owner #This is an inline comment.\n",
        &[
            ("a.js", Some(2), &["@js-owner"]),
            ("x/y/a.js", Some(2), &["@js-owner"]),
            ("a.jsx", Some(1), &["@global-owner1"]),
            ("a.js.map", Some(1), &["@global-owner1"]),
            ("js", Some(1), &["@global-owner1"]),
        ],
    );
    assert_eq!(co.rules()[1].owners.len(), 1);
}

#[test]
fn github_example_go_rule_owner_is_an_email_address() {
    let co = check(
        "*.go docs@example.com\n",
        &[
            ("main.go", Some(1), &["docs@example.com"]),
            ("cmd/keygate/main.go", Some(1), &["docs@example.com"]),
            ("main.gox", None, &[]),
            ("go", None, &[]),
        ],
    );
    assert_eq!(
        co.rules()[0].owners,
        [Owner::Email("docs@example.com".into())]
    );
}

#[test]
fn github_example_txt_rule_owner_is_a_team() {
    let co = check(
        "*.txt @octo-org/octocats\n",
        &[
            ("a.txt", Some(1), &["@octo-org/octocats"]),
            ("deep/er/a.txt", Some(1), &["@octo-org/octocats"]),
            ("a.txt.bak", None, &[]),
        ],
    );
    assert_eq!(
        co.rules()[0].owners,
        [Owner::Team {
            org: "octo-org".into(),
            slug: "octocats".into()
        }]
    );
}

#[test]
fn github_example_rooted_build_logs_dir_covers_all_depths_below_only_at_root() {
    check(
        "/build/logs/ @doctocat\n",
        &[
            ("build/logs/out.log", Some(1), &["@doctocat"]),
            ("build/logs/2024/01/out.log", Some(1), &["@doctocat"]),
            ("build/logs", None, &[]),
            ("x/build/logs/out.log", None, &[]),
            ("build/logsx/out.log", None, &[]),
            ("build/out.log", None, &[]),
        ],
    );
}

#[test]
fn github_example_docs_star_matches_direct_children_only() {
    check(
        "docs/*  docs@example.com\n",
        &[
            ("docs/getting-started.md", Some(1), &["docs@example.com"]),
            ("docs/build-app/troubleshooting.md", None, &[]),
            ("docs", None, &[]),
            ("x/docs/getting-started.md", None, &[]),
        ],
    );
}

#[test]
fn github_example_unrooted_apps_dir_matches_anywhere() {
    check(
        "apps/ @octocat\n",
        &[
            ("apps/a", Some(1), &["@octocat"]),
            ("apps/a/b/c", Some(1), &["@octocat"]),
            ("x/apps/b/c", Some(1), &["@octocat"]),
            ("apps", None, &[]),
            ("myapps/a", None, &[]),
            ("apps.rb", None, &[]),
        ],
    );
}

#[test]
fn github_example_rooted_docs_dir_matches_only_top_level_docs() {
    check(
        "/docs/ @doctocat\n",
        &[
            ("docs/a.md", Some(1), &["@doctocat"]),
            ("docs/x/y/z.md", Some(1), &["@doctocat"]),
            ("x/docs/a.md", None, &[]),
            ("docs", None, &[]),
        ],
    );
}

#[test]
fn github_example_scripts_dir_has_two_owners() {
    check(
        "/scripts/ @doctocat @octocat\n",
        &[
            ("scripts/deploy.sh", Some(1), &["@doctocat", "@octocat"]),
            ("scripts/ci/lint.sh", Some(1), &["@doctocat", "@octocat"]),
            ("tools/scripts/deploy.sh", None, &[]),
        ],
    );
}

#[test]
fn github_example_double_star_logs_matches_logs_dirs_anywhere() {
    check(
        "**/logs @octocat\n",
        &[
            ("logs/a.log", Some(1), &["@octocat"]),
            ("build/logs/a.log", Some(1), &["@octocat"]),
            ("scripts/logs/a.log", Some(1), &["@octocat"]),
            ("deeply/nested/logs/x/y.log", Some(1), &["@octocat"]),
            ("logs", Some(1), &["@octocat"]),
            ("logsx/a.log", None, &[]),
            ("a/catalogs/b", None, &[]),
            ("a/logs.txt", None, &[]),
        ],
    );
}

#[test]
fn github_example_apps_github_without_owners_leaves_that_subdirectory_unowned() {
    let co = check(
        "/apps/ @octocat\n/apps/github \n",
        &[
            ("apps/main.rb", Some(1), &["@octocat"]),
            ("apps/github/app.rb", Some(2), &[]),
            ("apps/github/deep/er.rb", Some(2), &[]),
            ("apps/github", Some(2), &[]),
            ("apps/githubber/a.rb", Some(1), &["@octocat"]),
        ],
    );
    assert_eq!(co.rules()[1].pattern, "/apps/github");
    assert!(co.rule_for("apps/github/app.rb").is_some());
}

#[test]
fn github_example_apps_github_with_own_owner_overrides_apps() {
    check(
        "/apps/ @octocat\n/apps/github @doctocat\n",
        &[
            ("apps/main.rb", Some(1), &["@octocat"]),
            ("apps/github/app.rb", Some(2), &["@doctocat"]),
            ("apps/github", Some(2), &["@doctocat"]),
            ("x/apps/github/app.rb", None, &[]),
        ],
    );
}
