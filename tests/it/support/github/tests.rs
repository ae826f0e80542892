use serde_json::{Value, json};
use time::OffsetDateTime;

use super::http::Query;
use super::model::World;
use super::*;
use octocrab::models::{AppId, InstallationId, repos::DiffEntryStatus};

fn jwt(claims: Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(TEST_APP_PRIVATE_KEY.as_bytes()).unwrap();
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    )
}

fn jwt_message(world: &World, auth: &str) -> Option<String> {
    let reply = world.check_jwt(auth, "").err()?;
    Some(reply.body.unwrap()["message"].as_str().unwrap().to_string())
}

#[test]
fn jwts_are_checked_as_github_checks_them() {
    let world = World::new("http://127.0.0.1:1".into());
    let n = OffsetDateTime::now_utc().unix_timestamp();
    let ok = jwt(json!({ "iss": APP_ID, "iat": n - 60, "exp": n + 540 }));
    assert_eq!(jwt_message(&world, &ok), None);
    let as_string = jwt(json!({ "iss": APP_ID.to_string(), "iat": n - 60, "exp": n + 540 }));
    assert_eq!(jwt_message(&world, &as_string), None);
    let cases = [
        (
            json!({ "iss": APP_ID, "iat": n - 60, "exp": n + 600 }),
            "is too far in the future",
        ),
        (
            json!({ "iss": APP_ID, "iat": n - 700, "exp": n - 100 }),
            "future time at which",
        ),
        (
            json!({ "iss": APP_ID, "iat": n + 120, "exp": n + 500 }),
            "'Issued at' claim",
        ),
        (
            json!({ "iss": APP_ID, "exp": n + 500 }),
            "'Issued at' claim",
        ),
        (
            json!({ "iss": 7, "iat": n - 60, "exp": n + 540 }),
            "could not be decoded",
        ),
    ];
    for (claims, message) in cases {
        let got = jwt_message(&world, &jwt(claims.clone())).unwrap_or_default();
        assert!(got.contains(message), "{claims}: {got}");
    }
    let tampered = format!("{}AAAA", &ok[..ok.len() - 4]);
    for auth in [tampered.as_str(), "token ghs_x", ""] {
        let got = jwt_message(&world, auth).unwrap_or_default();
        assert_eq!(got, "A JSON web token could not be decoded", "{auth}");
    }
}

#[test]
fn pages_carry_githubs_link_header() {
    let world = World::new("http://gh".into());
    let items: Vec<Value> = (0..7).map(Value::from).collect();
    let link = |raw: &str| {
        let reply = world.page(items.clone(), &Query::parse(raw), "/x");
        let link = reply.headers.iter().find(|(k, _)| *k == "link");
        (reply.body.unwrap(), link.map(|(_, v)| v.clone()))
    };
    let (body, first) = link("per_page=3");
    assert_eq!(body, json!([0, 1, 2]));
    assert_eq!(
        first.unwrap(),
        "<http://gh/x?per_page=3&page=2>; rel=\"next\", <http://gh/x?per_page=3&page=3>; rel=\"last\""
    );
    let (body, last) = link("per_page=3&page=3");
    assert_eq!(body, json!([6]));
    assert_eq!(
        last.unwrap(),
        "<http://gh/x?per_page=3&page=2>; rel=\"prev\", <http://gh/x?per_page=3&page=1>; rel=\"first\""
    );
    assert_eq!(link("").1, None);
}

#[tokio::test]
async fn octocrab_reads_what_the_stand_in_serves() {
    let gh = GitHub::start().await;
    gh.team("acme/security", &["carol"]);
    gh.commit_to_main(&[
        ("requests/bob/old.toml", "old\n"),
        ("requests/bob/k.toml", "k\n"),
    ]);
    let pr = gh.open_pr_with_changes(
        "alice",
        &[
            Change::Write("requests/alice/ci.toml", "reason = \"CI\"\n"),
            Change::Delete("requests/bob/old.toml"),
            Change::Rename("requests/bob/k.toml", "requests/carol/k.toml"),
        ],
    );
    let head = gh.push(
        pr,
        "mallory",
        &[("requests/alice/ci.toml", "reason = \"CI!\"\n")],
    );
    let review = gh.review(pr, "carol", ReviewState::Approve);

    let key = jsonwebtoken::EncodingKey::from_rsa_pem(gh.private_key_pem.as_bytes()).unwrap();
    let app = octocrab::Octocrab::builder()
        .base_uri(gh.url.as_str())
        .unwrap()
        .app(AppId(gh.app_id), key)
        .build()
        .unwrap();
    let octo = app
        .installation(InstallationId(gh.installation_id()))
        .unwrap();
    let pulls = octo.pulls("acme", "access-requests");

    let p = pulls.get(pr).await.unwrap();
    assert_eq!(
        (p.head.sha.as_str(), p.merged),
        (head.as_str(), Some(false))
    );
    let files = pulls.list_files(pr).await.unwrap().items;
    let statuses: Vec<_> = files.iter().map(|f| f.status.clone()).collect();
    use DiffEntryStatus::{Added, Removed, Renamed};
    assert_eq!(statuses, vec![Added, Removed, Renamed]);
    assert_eq!(
        files[2].previous_filename.as_deref(),
        Some("requests/bob/k.toml")
    );
    let reviews = pulls.list_reviews(pr).send().await.unwrap().items;
    assert_eq!(
        (reviews[0].id.0, reviews[0].commit_id.as_deref()),
        (review, Some(head.as_str()))
    );
    let commits = pulls.pr_commits(pr).send().await.unwrap().items;
    assert_eq!(commits[1].author.as_ref().unwrap().login, "mallory");
    let membership = octo
        .teams("acme")
        .memberships("security")
        .get("carol")
        .await
        .unwrap();
    assert_eq!(
        membership.state,
        octocrab::models::memberships::State::Active
    );

    let issues = octo.issues("acme", "access-requests");
    let comment = issues.create_comment(pr, "hello").await.unwrap();
    assert_eq!(
        (comment.user.login.as_str(), comment.user.r#type.as_str()),
        ("keygate[bot]", "Bot")
    );
    issues.update_comment(comment.id, "edited").await.unwrap();
    assert_eq!(gh.comments(pr), vec!["edited"]);

    let merge = gh.merge(pr);
    let commit = octo
        .commits("acme", "access-requests")
        .get(merge.clone())
        .await
        .unwrap();
    let parents: Vec<_> = commit
        .parents
        .iter()
        .map(|c| c.sha.clone().unwrap())
        .collect();
    assert_eq!(parents[1], head);
    let mut content = octo
        .repos("acme", "access-requests")
        .get_content()
        .path("requests/carol/k.toml")
        .r#ref(merge)
        .send()
        .await
        .unwrap();
    assert_eq!(content.take_items()[0].decoded_content().unwrap(), "k\n");
    assert_eq!(gh.tokens_issued(), 1);
    gh.expire_tokens();
    pulls.get(pr).await.unwrap();
    assert_eq!(gh.tokens_issued(), 2);

    assert!(
        octo.repos("acme", "access-requests")
            .list_tags()
            .send()
            .await
            .is_err()
    );
    let unknown = gh.take_unknown_requests();
    assert_eq!(unknown, vec!["GET /repos/acme/access-requests/tags"]);
}
