//! Which memberships to ask about, and how decisions read to people.

use super::*;

// -- membership_queries ----------------------------------------------------------------------

#[test]
fn membership_queries_ask_only_about_teams_and_reviewers_who_decide() {
    let story = owned_by(&["@acme/security", "@zed", "ops@example.com"])
        .pushed_by(&dave())
        .approves(&bob()) // asked
        .requests_changes(&carol()) // asked: may block
        .comments(&erin()) // no state
        .approves(&person(6, "frank"))
        .review_dismissed(&person(6, "frank")) // dismissed
        .approves(&alice()) // author: never counts
        .approves(&dependabot()) // bot: never counts
        .approves(&dave()); // pusher: never counts

    assert_eq!(
        story.queries(),
        [
            query("acme", "security", "bob"),
            query("acme", "security", "carol")
        ]
    );
}

#[test]
fn membership_queries_include_stale_approvals_and_owners_who_pushed_but_object() {
    let story = owned_by(&["@acme/security"])
        .pushed_by(&dave())
        .approves_on(&bob(), Some(OLDER))
        .requests_changes(&dave());

    assert_eq!(
        story.queries(),
        [
            query("acme", "security", "bob"),
            query("acme", "security", "dave")
        ]
    );
}

#[test]
fn membership_queries_are_lowercased_and_deduplicated_across_files() {
    let story = owned_by(&["@Acme/Security", "@acme/platform"])
        .file(OTHER, &["@acme/security"])
        .approves(&person(2, "Bob"));

    assert_eq!(
        story.queries(),
        [
            query("acme", "platform", "bob"),
            query("acme", "security", "bob")
        ]
    );
}

#[test]
fn membership_queries_skip_reviewers_named_directly_on_that_file() {
    let story = owned_by(&["@bob", "@acme/security"])
        .file(OTHER, &["@acme/platform"])
        .approves(&bob());

    assert_eq!(story.queries(), [query("acme", "platform", "bob")]);
}

#[test]
fn membership_queries_are_empty_without_team_owners() {
    let story = owned_by(&["@bob", "ops@example.com"])
        .file(OTHER, &[])
        .approves(&bob())
        .approves(&carol());

    assert!(story.queries().is_empty());
}

#[test]
fn answering_only_the_queries_decides_as_knowing_every_membership_would() {
    let everything = owned_by(&["@acme/security", "@bob"])
        .file(OTHER, &["@acme/platform"])
        .needing(2)
        .member_of("acme/security", &carol())
        .member_of("acme/security", &dave())
        .member_of("acme/platform", &erin())
        .member_of("acme/platform", &bob())
        .member_of("acme/platform", &alice())
        .approves(&bob())
        .approves(&carol())
        .approves(&alice())
        .approves(&erin())
        .approves_on(&dave(), Some(OLDER));

    let answered: Memberships = everything
        .queries()
        .into_iter()
        .filter(|(org, slug, login)| everything.memberships.contains(org, slug, login))
        .collect();
    assert!(answered.len() < everything.memberships.len());

    let from_answers = decide(
        &everything.files,
        &everything.facts,
        &Access {
            memberships: answered,
            ..everything.access()
        },
        &everything.rules,
        NOW,
    );
    assert_eq!(from_answers, everything.decide());
}

// -- Explanations ----------------------------------------------------------------------------

#[test]
fn pending_explains_how_many_approvals_and_from_whom() {
    let decision = owned_by(&["@acme/security", "@alice"]).decide();
    assert_eq!(
        only(&decision).explain(),
        "needs 1 more approval from @acme/security or @alice"
    );

    let decision = pr_by(alice())
        .file(
            PATH,
            &["@bob", "@carol", "@acme/security", "ops@example.com"],
        )
        .needing(2)
        .decide();
    assert_eq!(
        only(&decision).explain(),
        "needs 2 more approvals from @bob, @carol or @acme/security"
    );
}

#[test]
fn email_only_owners_explain_that_nobody_can_approve() {
    let decision = owned_by(&["ops@example.com", "sec@example.com"]).decide();

    assert_eq!(
        only(&decision).explain(),
        "can never be approved: its only owners (ops@example.com and sec@example.com) are \
         e-mail addresses, which keygate cannot match to GitHub accounts; name a @user or \
         @org/team for this path in CODEOWNERS on the base branch"
    );
}

#[test]
fn approved_blocked_and_no_owner_explain_themselves() {
    let approved = owned_by(&["@bob", "@carol"])
        .needing(2)
        .approves(&bob())
        .approves(&carol())
        .decide();
    assert_eq!(only(&approved).explain(), "approved by @bob and @carol");

    let blocked = owned_by(&["@bob", "@carol"])
        .approves(&bob())
        .requests_changes(&carol())
        .decide();
    assert_eq!(
        only(&blocked).explain(),
        "@carol requested changes; this blocks the request until they approve or the review \
         is dismissed"
    );

    let two_blocking = owned_by(&["@bob", "@carol"])
        .requests_changes(&bob())
        .requests_changes(&carol())
        .decide();
    assert_eq!(
        only(&two_blocking).explain(),
        "@bob and @carol requested changes; this blocks the request until each approves or \
         the review is dismissed"
    );

    let no_owner = owned_by(&[]).decide();
    assert_eq!(
        only(&no_owner).explain(),
        "no owner in CODEOWNERS: add a line for this path on the base branch"
    );
}

#[test]
fn ignored_approvals_explain_why_they_did_not_count() {
    let sentence = |who: Account, why: IgnoredWhy| ignored(who, why).to_string();

    assert_eq!(
        sentence(
            bob(),
            IgnoredWhy::Stale {
                commit_id: Some(OLDER.to_owned())
            }
        ),
        "@bob's approval was given on an older commit (abc1234); approve again on the \
         current head"
    );
    assert_eq!(
        sentence(bob(), IgnoredWhy::Stale { commit_id: None }),
        "@bob's approval is not tied to a commit; approve again on the current head"
    );
    assert_eq!(
        sentence(dave(), IgnoredWhy::Pusher),
        "@dave pushed commits to this pull request, so their approval does not count"
    );
    assert_eq!(
        sentence(alice(), IgnoredWhy::Author),
        "@alice opened this pull request, so their own approval does not count"
    );
    assert_eq!(
        sentence(dependabot(), IgnoredWhy::Bot),
        "@dependabot[bot] is a bot, so its approval does not count"
    );
    assert_eq!(
        sentence(erin(), IgnoredWhy::NotOwner),
        "@erin is not an owner of this file, so their approval does not count"
    );
}

#[test]
fn verdicts_and_reasons_read_as_short_phrases() {
    assert_eq!(Verdict::Approved.to_string(), "approved");
    assert_eq!(
        Verdict::Pending { missing: 2 }.to_string(),
        "needs 2 more approvals"
    );
    assert_eq!(Verdict::Blocked.to_string(), "an owner requested changes");
    assert_eq!(
        IgnoredWhy::Stale {
            commit_id: Some(OLDER.to_owned())
        }
        .to_string(),
        "given on an older commit (abc1234)"
    );
    assert_eq!(
        IgnoredWhy::Pusher.to_string(),
        "pushed commits to this pull request"
    );
}

#[test]
fn decision_text_lists_each_file_and_its_ignored_approvals() {
    let decision = owned_by(&["@bob"])
        .file(OTHER, &["@carol"])
        .approves(&bob())
        .approves_on(&carol(), Some(OLDER))
        .decide();

    assert_eq!(
        decision.to_string(),
        "requests/deploy-bot/ci.toml: approved by @bob\n  \
         - @carol is not an owner of this file, so their approval does not count\n\
         requests/reporting/etl.toml: needs 1 more approval from @carol\n  \
         - @bob is not an owner of this file, so their approval does not count\n  \
         - @carol's approval was given on an older commit (abc1234); approve again on the \
         current head"
    );
    assert_eq!(
        file(&decision, OTHER).reasons(),
        [
            "needs 1 more approval from @carol",
            "@bob is not an owner of this file, so their approval does not count",
            "@carol's approval was given on an older commit (abc1234); approve again on the \
             current head",
        ]
    );
    assert_eq!(
        Decision { files: Vec::new() }.to_string(),
        "this pull request adds no request file, so there is nothing to approve"
    );
}

#[test]
fn decision_serializes_with_owners_as_text_and_tagged_verdicts() {
    let decision = owned_by(&["@acme/security", "ops@example.com"])
        .approves(&person(9, "zed"))
        .decide();

    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(
        json,
        serde_json::json!({ "files": [{
            "path": PATH,
            "owners": ["@acme/security", "ops@example.com"],
            "approved_by": [],
            "counted": [],
            "needed": 1,
            "blocked_by": [],
            "ignored": [{
                "reviewer": { "id": 9, "login": "zed", "is_bot": false },
                "why": "not_owner"
            }],
            "verdict": { "state": "pending", "missing": 1 }
        }]})
    );
}

#[test]
fn review_state_reads_github_spelling() {
    let states: Vec<ReviewState> = serde_json::from_str(
        r#"["APPROVED","CHANGES_REQUESTED","DISMISSED","COMMENTED","PENDING"]"#,
    )
    .unwrap();
    assert_eq!(
        states,
        [
            ReviewState::Approved,
            ReviewState::ChangesRequested,
            ReviewState::Dismissed,
            ReviewState::Commented,
            ReviewState::Pending
        ]
    );
}
