//! Owner tokens (`@login`, `@org/team-slug`, `user@example.com`) and GitHub's rules for
//! the names in them.

use std::fmt;

/// Longest GitHub login (users and organisations).
const MAX_LOGIN_LEN: usize = 39;

/// What an owner token may be, for error messages.
const OWNER_FORMS: &str = "write a user as `@login`, a team as `@org/team-slug`, or an e-mail address such as `user@example.com`";

/// A code owner named on a CODEOWNERS line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// `@login` (stored without the `@`, case preserved; compare case-insensitively via helper)
    User(String),
    /// `@org/team-slug` (stored without the `@`)
    Team { org: String, slug: String },
    /// `someone@example.com`
    Email(String),
}

impl Owner {
    /// Parses one owner token as written in CODEOWNERS (`@login`,
    /// `@org/team-slug` or `user@example.com`). The error says what is wrong
    /// and what to write instead.
    pub fn parse(token: &str) -> Result<Owner, String> {
        if let Some(name) = token.strip_prefix('@') {
            if let Some((org, slug)) = name.split_once('/') {
                if !is_valid_login(org) {
                    return Err(format!(
                        "`{token}`: `{org}` is not a valid GitHub organisation name \
                         (1-{MAX_LOGIN_LEN} letters, digits or single hyphens, not starting or \
                         ending with a hyphen); write a team as `@org/team-slug`"
                    ));
                }
                if slug.is_empty() {
                    return Err(format!(
                        "`{token}` names no team after the `/`; write a team as `@{org}/team-slug`"
                    ));
                }
                if !is_valid_team_slug(slug) {
                    return Err(format!(
                        "`{token}`: `{slug}` is not a valid team slug (letters, digits, `-`, `_` \
                         and `.` only, not dots alone); write a team as `@{org}/team-slug`"
                    ));
                }
                return Ok(Owner::Team {
                    org: org.to_owned(),
                    slug: slug.to_owned(),
                });
            }
            if name.is_empty() {
                return Err(format!("`@` alone names nobody; {OWNER_FORMS}"));
            }
            if !is_valid_login(name) {
                return Err(format!(
                    "`{token}` is not a valid GitHub user name: a login is 1-{MAX_LOGIN_LEN} \
                     letters, digits or single hyphens and cannot start or end with a hyphen; \
                     {OWNER_FORMS}"
                ));
            }
            return Ok(Owner::User(name.to_owned()));
        }
        if token.contains('@') {
            if is_valid_email(token) {
                return Ok(Owner::Email(token.to_owned()));
            }
            return Err(format!(
                "`{token}` is not a valid e-mail address; {OWNER_FORMS}"
            ));
        }
        Err(format!("`{token}` is not an owner; {OWNER_FORMS}"))
    }

    /// True when this owner is the user `login` (GitHub logins are case-insensitive).
    pub fn is_user(&self, login: &str) -> bool {
        matches!(self, Owner::User(own) if own.eq_ignore_ascii_case(login))
    }

    /// True when this owner is the team `org/slug` (compared case-insensitively).
    pub fn is_team(&self, org: &str, slug: &str) -> bool {
        matches!(self, Owner::Team { org: o, slug: s }
            if o.eq_ignore_ascii_case(org) && s.eq_ignore_ascii_case(slug))
    }

    /// Equality as GitHub sees it: logins, organisations, team slugs and
    /// e-mail addresses compared without regard to ASCII case.
    pub fn same_as(&self, other: &Owner) -> bool {
        match (self, other) {
            (Owner::User(a), Owner::User(b)) | (Owner::Email(a), Owner::Email(b)) => {
                a.eq_ignore_ascii_case(b)
            }
            (Owner::Team { org, slug }, other) => other.is_team(org, slug),
            _ => false,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::User(login) => write!(f, "@{login}"),
            Owner::Team { org, slug } => write!(f, "@{org}/{slug}"),
            Owner::Email(address) => f.write_str(address),
        }
    }
}

/// GitHub login rules: 1-39 ASCII letters, digits and hyphens; no leading,
/// trailing or doubled hyphen.
pub fn is_valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= MAX_LOGIN_LEN
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !login.starts_with('-')
        && !login.ends_with('-')
        && !login.contains("--")
}

/// Team slug: ASCII letters, digits, `-`, `_` and `.`, but not dots alone. GitHub never makes
/// such a slug, and keygate puts the slug into an API path (`/orgs/{org}/teams/{slug}/...`),
/// where `.` or `..` would name another resource.
fn is_valid_team_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !slug.bytes().all(|b| b == b'.')
}

/// A pragmatic e-mail check: `local@domain.tld` with an RFC 5322 "atext"
/// local part (dots allowed) and a DNS host name of at least two labels.
fn is_valid_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && !tld.bytes().all(|b| b.is_ascii_digit()));
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    // -- Owners ----------------------------------------------------------------

    #[test]
    fn valid_owner_tokens_parse_to_the_right_kind() {
        let team = |org: &str, slug: &str| Owner::Team {
            org: org.into(),
            slug: slug.into(),
        };
        let cases: Vec<(&str, Owner)> = vec![
            ("@octocat", Owner::User("octocat".into())),
            ("@Octo-Cat", Owner::User("Octo-Cat".into())),
            ("@a", Owner::User("a".into())),
            ("@0", Owner::User("0".into())),
            (
                "@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                Owner::User("a".repeat(39)),
            ),
            ("@octo-org/octocats", team("octo-org", "octocats")),
            ("@acme/team_name.v2", team("acme", "team_name.v2")),
            ("@Acme/Security-Team", team("Acme", "Security-Team")),
            ("docs@example.com", Owner::Email("docs@example.com".into())),
            (
                "first.last+tag@sub.example.co.uk",
                Owner::Email("first.last+tag@sub.example.co.uk".into()),
            ),
            (
                "o'neil@xn--p1ai.xn--p1ai",
                Owner::Email("o'neil@xn--p1ai.xn--p1ai".into()),
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(Owner::parse(token), Ok(expected.clone()), "{token:?}");
            assert_eq!(expected.to_string(), token, "display of {token:?}");
        }
    }

    #[test]
    fn owner_helpers_compare_without_regard_to_case() {
        let user = Owner::User("Octo-Cat".into());
        assert!(user.is_user("octo-cat"));
        assert!(user.is_user("OCTO-CAT"));
        assert!(!user.is_user("octocat"));
        assert!(!user.is_team("octo-cat", "x"));
        let team = Owner::Team {
            org: "Acme".into(),
            slug: "Security".into(),
        };
        assert!(team.is_team("acme", "security"));
        assert!(!team.is_team("acme", "billing"));
        assert!(!team.is_user("acme"));
        assert!(team.same_as(&Owner::Team {
            org: "ACME".into(),
            slug: "security".into()
        }));
        assert!(user.same_as(&Owner::User("octo-cat".into())));
        assert!(!user.same_as(&Owner::Email("octo-cat".into())));
        let mail = Owner::Email("Docs@Example.com".into());
        assert!(mail.same_as(&Owner::Email("docs@example.com".into())));
    }

    #[test]
    fn login_validation_follows_github_rules() {
        let valid = ["a", "octocat", "a-b-c", "A1", &"x".repeat(39)];
        let invalid = [
            "",
            "-a",
            "a-",
            "a--b",
            "a_b",
            "a.b",
            "a b",
            "é",
            &"x".repeat(40),
        ];
        for login in valid {
            assert!(is_valid_login(login), "{login:?}");
        }
        for login in invalid {
            assert!(!is_valid_login(login), "{login:?}");
        }
    }
}
