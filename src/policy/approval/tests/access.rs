//! Write access, and pushers known from `synchronize` deliveries.

use super::*;

#[test]
fn named_owner_with_only_read_or_triage_access_does_not_count() {
    for permission in [Permission::None, Permission::Read, Permission::Triage] {
        let decision = owned_by(&["@bob"])
            .user_can(&bob(), permission)
            .approves(&bob())
            .decide();

        let f = only(&decision);
        assert_eq!(f.verdict, Verdict::Pending { missing: 1 }, "{permission:?}");
        assert_eq!(f.ignored, [ignored(bob(), IgnoredWhy::NoWriteAccess)]);
    }
}

#[test]
fn named_owner_with_write_maintain_or_admin_counts() {
    for permission in [Permission::Write, Permission::Maintain, Permission::Admin] {
        let decision = owned_by(&["@bob"])
            .user_can(&bob(), permission)
            .approves(&bob())
            .decide();

        assert!(decision.approved(), "{permission:?}");
    }
}

#[test]
fn team_member_counts_only_when_the_team_can_push() {
    let story = |permission| {
        owned_by(&["@acme/security"])
            .member_of("acme/security", &bob())
            .team_can("ACME/Security", permission)
            .approves(&bob())
    };

    assert_eq!(
        only(&story(Permission::Read).decide()).ignored,
        [ignored(bob(), IgnoredWhy::NoWriteAccess)]
    );
    assert!(!story(Permission::None).decide().approved());
    assert!(story(Permission::Write).decide().approved());
    assert!(story(Permission::Maintain).decide().approved());
}

#[test]
fn unknown_permission_does_not_count() {
    let decision = owned_by(&["@bob", "@acme/security"])
        .member_of("acme/security", &carol())
        .permissions_unanswered()
        .approves(&bob())
        .approves(&carol())
        .decide();

    pending_one_ignoring(
        &decision,
        &[
            ignored(bob(), IgnoredWhy::WriteAccessUnknown),
            ignored(carol(), IgnoredWhy::WriteAccessUnknown),
        ],
    );
}

#[test]
fn an_unanswered_route_is_unknown_even_when_another_route_says_no() {
    let decision = owned_by(&["@bob", "@acme/security"])
        .member_of("acme/security", &bob())
        .permissions_unanswered()
        .user_can(&bob(), Permission::Read)
        .approves(&bob())
        .decide();

    assert_eq!(
        only(&decision).ignored,
        [ignored(bob(), IgnoredWhy::WriteAccessUnknown)]
    );
}

#[test]
fn write_access_through_any_owning_route_is_enough() {
    let decision = owned_by(&["@bob", "@acme/security"])
        .member_of("acme/security", &bob())
        .user_can(&bob(), Permission::Read)
        .team_can("acme/security", Permission::Write)
        .approves(&bob())
        .decide();

    assert!(decision.approved());
}

#[test]
fn write_access_of_a_team_that_does_not_own_the_file_does_not_help() {
    let decision = owned_by(&["@bob"])
        .file(OTHER, &["@acme/platform"])
        .member_of("acme/platform", &bob())
        .user_can(&bob(), Permission::Read)
        .approves(&bob())
        .decide();

    assert_eq!(
        file(&decision, PATH).verdict,
        Verdict::Pending { missing: 1 }
    );
    assert_eq!(file(&decision, OTHER).verdict, Verdict::Approved);
}

#[test]
fn objection_from_an_owner_without_write_access_still_blocks() {
    let decision = owned_by(&["@bob", "@carol"])
        .user_can(&carol(), Permission::Read)
        .approves(&bob())
        .requests_changes(&carol())
        .decide();

    assert_eq!(only(&decision).verdict, Verdict::Blocked);
}

#[test]
fn unanswered_permissions_never_let_an_approval_count() {
    let story = owned_by(&["@bob"]).approves(&bob());
    let unanswered = decide(
        &story.files,
        &story.facts,
        &Access::default(),
        &story.rules,
        NOW,
    );
    assert_eq!(
        only(&unanswered).ignored,
        [ignored(bob(), IgnoredWhy::WriteAccessUnknown)]
    );
}

#[test]
fn permissions_read_github_spelling() {
    let read = |s| Permission::from_github(s);
    assert_eq!(read("admin"), Some(Permission::Admin));
    assert_eq!(read("maintain"), Some(Permission::Maintain));
    assert_eq!(read("write"), Some(Permission::Write));
    assert_eq!(read("push"), Some(Permission::Write));
    assert_eq!(read("triage"), Some(Permission::Triage));
    assert_eq!(read("pull"), Some(Permission::Read));
    assert_eq!(read("read"), Some(Permission::Read));
    assert_eq!(read("none"), Some(Permission::None));
    assert_eq!(read("custom-role"), None);
    assert!(Permission::Write.can_write() && !Permission::Triage.can_write());
}

// -- permission_queries ----------------------------------------------------------------------

#[test]
fn permission_queries_ask_only_about_approvers_who_could_count() {
    let story = owned_by(&["@Bob", "@acme/security", "@dave", "@carol"])
        .file(OTHER, &["@acme/platform"])
        .member_of("acme/security", &erin())
        .member_of("acme/platform", &erin())
        .member_of("acme/security", &person(6, "frank"))
        .pushed_by(&dave())
        .approves(&person(2, "BOB")) // named: asked by login
        .approves(&erin()) // member of two owning teams: both teams asked
        .approves(&dave()) // pusher: never counts
        .requests_changes(&carol()) // an objection needs no write access
        .approves(&alice()) // author
        .merged_at(datetime!(2025-06-02 11:30 UTC))
        .approves(&person(6, "frank")) // after the merge
        .submitted(Some(datetime!(2025-06-02 11:45 UTC)));

    assert_eq!(
        story.permission_queries(),
        PermissionQueries {
            users: vec!["bob".into()],
            teams: vec![
                ("acme".into(), "platform".into()),
                ("acme".into(), "security".into())
            ],
        }
    );
}

#[test]
fn answering_only_the_permission_queries_decides_as_knowing_every_permission_would() {
    let everything = owned_by(&["@bob", "@acme/security", "@zed"])
        .file(OTHER, &["@carol", "@acme/platform"])
        .needing(2)
        .member_of("acme/security", &carol())
        .member_of("acme/platform", &dave())
        .permissions_unanswered()
        .user_can(&bob(), Permission::Admin)
        .user_can(&carol(), Permission::Read)
        .user_can(&person(26, "zed"), Permission::Write)
        .team_can("acme/security", Permission::Write)
        .team_can("acme/platform", Permission::Triage)
        .team_can("acme/unrelated", Permission::Admin)
        .approves(&bob())
        .approves(&carol())
        .approves(&dave())
        .approves_on(&erin(), Some(OLDER));

    let asked = everything.permission_queries();
    let all = everything.access().permissions;
    let mut answered = Permissions::new();
    for login in &asked.users {
        answered.insert_user(login, all.user(login).unwrap());
    }
    for (org, slug) in &asked.teams {
        answered.insert_team(org, slug, all.team(org, slug).unwrap());
    }

    let from_answers = decide(
        &everything.files,
        &everything.facts,
        &Access {
            memberships: everything.memberships.clone(),
            permissions: answered,
        },
        &everything.rules,
        NOW,
    );
    assert_eq!(from_answers, everything.decide());
    assert_eq!(asked.users.len() + asked.teams.len(), 4);
}

// -- synchronize senders ---------------------------------------------------------------------

#[test]
fn account_that_sent_a_synchronize_push_never_counts_as_approver() {
    let decision = owned_by(&["@bob", "@dave"])
        .sent_synchronize(&dave())
        .approves(&dave())
        .decide();

    pending_one_ignoring(&decision, &[ignored(dave(), IgnoredWhy::Pusher)]);
}

#[test]
fn synchronize_senders_are_not_asked_about() {
    let story = owned_by(&["@acme/security"])
        .member_of("acme/security", &dave())
        .sent_synchronize(&dave())
        .approves(&dave());

    assert!(story.queries().is_empty());
    assert_eq!(story.permission_queries(), PermissionQueries::default());
}

// -- Explanations ----------------------------------------------------------------------------

#[test]
fn write_access_reasons_read_as_sentences() {
    assert_eq!(
        ignored(bob(), IgnoredWhy::NoWriteAccess).to_string(),
        "@bob has no write access to this repository (GitHub requires it of code owners, \
         directly or through an owning team), so their approval does not count"
    );
    assert_eq!(
        ignored(bob(), IgnoredWhy::WriteAccessUnknown).to_string(),
        "keygate could not confirm that @bob has write access to this repository, so their \
         approval does not count"
    );
    assert_eq!(
        IgnoredWhy::NoWriteAccess.to_string(),
        "no write access to the repository"
    );
}
