use super::*;

#[test]
fn github_routes_become_shapes_without_names_numbers_shas_or_paths() {
    assert_eq!(
        github_operation(
            "GET",
            "/repos/acme/access-requests/pulls/42/files?per_page=100"
        ),
        "GET /repos/*/*/pulls/*/files"
    );
    assert_eq!(
        github_operation(
            "GET",
            "/repos/acme/r/contents/requests/alice/ci.toml?ref=0123456789abcdef"
        ),
        "GET /repos/*/*/contents/*"
    );
    assert_eq!(
        github_operation("GET", "/orgs/acme/teams/admins/memberships/alice"),
        "GET /orgs/*/teams/*/memberships/*"
    );
    assert_eq!(
        github_operation("PATCH", "/repos/acme/r/check-runs/991"),
        "PATCH /repos/*/*/check-runs/*"
    );
}

#[test]
fn a_route_with_many_unknown_segments_is_cut_short() {
    let op = github_operation("GET", &"/x".repeat(50));
    assert_eq!(op, "GET /*/*/*/*/*/*/*/*/…");
}

#[test]
fn unknown_webhook_events_share_one_label() {
    assert_eq!(event_label(Some("pull_request")), "pull_request");
    assert_eq!(event_label(Some("made-up-by-a-stranger-1")), "other");
    assert_eq!(event_label(None), "none");
}

#[test]
fn only_final_intent_moves_count_as_issuances() {
    assert_eq!(issuance_outcome("stored", "issued", None), Some("issued"));
    assert_eq!(
        issuance_outcome("pending", "not_issued", Some("refused: not approved")),
        Some("refused")
    );
    assert_eq!(
        issuance_outcome("creating", "not_issued", Some("IAM said no")),
        Some("not_issued")
    );
    assert_eq!(
        issuance_outcome("creating", "pending", None),
        Some("rolled_back")
    );
    assert_eq!(issuance_outcome("pending", "creating", None), None);
    assert_eq!(issuance_outcome("creating", "stored", None), None);
}

#[test]
fn the_text_carries_counters_the_ledger_figures_and_an_end_marker() {
    let m = Metrics::new();
    m.delivery(Some("pull_request"), DeliveryOutcome::Queued);
    m.delivery(Some("pull_request"), DeliveryOutcome::Queued);
    m.intent_moved("stored", "issued", None);
    m.aws_call("CreateAccessKey", "ok");
    m.github_call("GET", "/repos/a/b/pulls/1", "404".into());
    m.work_done(std::time::Duration::from_millis(30));
    let text = m
        .render(&LedgerFigures {
            queued: 3,
            oldest_queued_age_secs: Some(12.5),
            keys: parse_key_census(&key_census(
                [Progress::ACTIVE, Progress::ACTIVE].into_iter(),
            )),
            ..Default::default()
        })
        .unwrap();
    for line in [
        "keygate_deliveries_total{event=\"pull_request\",outcome=\"queued\"} 2",
        "keygate_issuances_total{outcome=\"issued\"} 1",
        "keygate_aws_calls_total{operation=\"CreateAccessKey\",status=\"ok\"} 1",
        "keygate_github_calls_total{operation=\"GET /repos/*/*/pulls/*\",status=\"404\"} 1",
        "keygate_queue_depth{state=\"queued\"} 3",
        "keygate_queue_oldest_age_seconds 12.5",
        "keygate_keys{state=\"active\"} 2",
        "keygate_keys{state=\"warned\"} 0",
        "keygate_work_duration_seconds_count 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
}
