use serde_json::{Value, json};
use time::OffsetDateTime;

use super::http::Query;
use super::model::{World, now};
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
    let world = World::new("http://127.0.0.1:1".into(), "");
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
fn githubs_own_clock_checks_jwts_and_dates_its_answers() {
    let mut world = World::new("http://127.0.0.1:1".into(), "");
    world.skew = time::Duration::minutes(15);
    let ours = OffsetDateTime::now_utc().unix_timestamp();
    let theirs = ours + 15 * 60;
    let on_our_clock = jwt(json!({ "iss": APP_ID, "iat": ours - 60, "exp": ours + 540 }));
    let got = jwt_message(&world, &on_our_clock).unwrap_or_default();
    assert!(got.contains("'Expiration time' claim"), "{got}");
    let on_theirs = jwt(json!({ "iss": APP_ID, "iat": theirs - 60, "exp": theirs + 540 }));
    assert_eq!(jwt_message(&world, &on_theirs), None);

    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let date = world.date_header();
    let dated = time::PrimitiveDateTime::parse(&date, format).unwrap();
    let apart = dated.assume_utc().unix_timestamp() - theirs;
    assert!(
        (-1..=1).contains(&apart),
        "{date} is GitHub's clock: {apart}"
    );

    world.skew = -time::Duration::minutes(15);
    let got = jwt_message(&world, &on_our_clock).unwrap_or_default();
    assert!(got.contains("'Issued at' claim"), "{got}");
}

#[test]
fn pages_carry_githubs_link_header() {
    let world = World::new("http://gh".into(), "");
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

/// A client holding a fresh installation token, for raw calls.
struct Raw {
    gh: GitHub,
    http: reqwest::Client,
}

impl Raw {
    fn new(gh: &GitHub) -> Raw {
        let expires_at = now() + time::Duration::hours(1);
        let token = model::Token {
            installation: INSTALLATION_ID,
            expires_at,
        };
        gh.world().tokens.insert("ghs_raw".into(), token);
        Raw {
            gh: gh.clone(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        accept: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.gh.url);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, url)
            .header("authorization", "token ghs_raw")
            .header("accept", accept);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self
            .send("GET", path, "application/vnd.github+json", None)
            .await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

const REPO: &str = "/repos/acme/access-requests";

#[tokio::test]
async fn a_retargeted_pull_request_shows_base_ref_changed_and_diffs_from_its_new_base() {
    let gh = GitHub::start().await;
    gh.create_branch("develop", "main");
    gh.commit_to("develop", &[("dev-only.txt", "x\n")]);
    let pr = gh.open_pr_on("develop", "alice", &[("requests/a/ci.toml", "a\n")]);
    let files = |raw: Value| -> Vec<String> {
        let list = raw.as_array().unwrap().iter();
        list.map(|f| f["filename"].as_str().unwrap().to_string())
            .collect()
    };
    let raw = Raw::new(&gh);
    assert_eq!(
        files(raw.get(&format!("{REPO}/pulls/{pr}/files")).await),
        ["requests/a/ci.toml"]
    );

    gh.retarget_as(pr, "main", "carol");
    let p = raw.get(&format!("{REPO}/pulls/{pr}")).await;
    assert_eq!(p["base"]["ref"], "main");
    assert_eq!(p["base"]["sha"], gh.main_head());
    // develop's commit is now part of what the pull request changes.
    let listed = files(raw.get(&format!("{REPO}/pulls/{pr}/files")).await);
    assert_eq!(listed, ["dev-only.txt", "requests/a/ci.toml"]);
    assert_eq!(p["changed_files"], 2);

    gh.review(pr, "dave", ReviewState::Approve);
    gh.comment_as(pr, "github-actions[bot]", "lint ok");
    let timeline = raw.get(&format!("{REPO}/issues/{pr}/timeline")).await;
    let events: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["committed", "base_ref_changed", "reviewed", "commented"]
    );
    let changed = &timeline[1];
    assert_eq!(changed["actor"]["login"], "carol");
    assert!(changed["created_at"].is_string() && changed["id"].is_u64());
    assert_eq!(timeline[2]["state"], "approved");
    assert_eq!(timeline[3]["actor"]["type"], "Bot");
    assert_eq!(timeline[3]["user"]["login"], "github-actions[bot]");
    let excluded = raw
        .get(&format!(
            "{REPO}/issues/{pr}/timeline?exclude=committed,reviewed"
        ))
        .await;
    assert_eq!(excluded.as_array().unwrap().len(), 2);

    // A branch that differs only in case is another branch.
    gh.create_branch("Main", "main");
    gh.retarget(pr, "Main");
    let merge = gh.merge(pr);
    assert_eq!(gh.branch_head("Main"), merge);
    assert_ne!(gh.main_head(), merge);
}

#[tokio::test]
async fn update_branch_merges_the_base_into_the_head_as_a_verified_github_commit() {
    let gh = GitHub::start().await;
    let pr = gh.open_pr("alice", &[("requests/a/ci.toml", "a\n")]);
    let head = gh.head_sha(pr);
    let base = gh.commit_to_main(&[("other.txt", "o\n")]);
    let merged = gh.update_branch(pr);
    let signed = gh.push_signed(pr, "alice", &[("requests/a/ci.toml", "b\n")]);
    let raw = Raw::new(&gh);
    let commits = raw.get(&format!("{REPO}/pulls/{pr}/commits")).await;
    let commits = commits.as_array().unwrap();
    assert_eq!(commits.len(), 3);
    let parents: Vec<&str> = commits[1]["parents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sha"].as_str().unwrap())
        .collect();
    assert_eq!(
        (commits[1]["sha"].as_str(), parents),
        (Some(merged.as_str()), vec![head.as_str(), base.as_str()])
    );
    let verification = |c: &Value| {
        (
            c["commit"]["verification"]["verified"].clone(),
            c["commit"]["verification"]["reason"].clone(),
        )
    };
    assert_eq!(verification(&commits[0]), (json!(false), json!("unsigned")));
    assert_eq!(verification(&commits[1]), (json!(true), json!("valid")));
    assert_eq!(commits[1]["commit"]["committer"]["name"], "GitHub");
    assert_eq!(verification(&commits[2]), (json!(true), json!("valid")));
    assert!(
        commits[2]["commit"]["verification"]["payload"]
            .as_str()
            .unwrap()
            .starts_with("tree ")
    );
    gh.set_signature(&signed, Signature::Unverified("unknown_key"));
    let c = raw.get(&format!("{REPO}/commits/{signed}")).await;
    assert_eq!(verification(&c), (json!(false), json!("unknown_key")));
    // The base's file came with the merge: it is not the pull request's change.
    let files = raw.get(&format!("{REPO}/pulls/{pr}/files")).await;
    assert_eq!(files.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn permissions_default_to_write_and_push_and_follow_what_tests_set() {
    let gh = GitHub::start().await;
    gh.team("acme/security", &["carol"]);
    gh.team("acme/billing", &["erin"]);
    gh.set_permission("dave", "maintain");
    gh.set_permission("mallory", "triage");
    gh.set_team_permission("acme/billing", None);
    gh.set_team_permission("acme/security", Some("admin"));
    let raw = Raw::new(&gh);
    let permission = |user: &'static str| {
        let raw = &raw;
        async move {
            let v = raw
                .get(&format!("{REPO}/collaborators/{user}/permission"))
                .await;
            (
                v["permission"].as_str().unwrap().to_string(),
                v["role_name"].as_str().unwrap().to_string(),
                v["user"]["permissions"]["push"].clone(),
            )
        }
    };
    assert_eq!(
        permission("carol").await,
        ("write".into(), "write".into(), json!(true))
    );
    assert_eq!(
        permission("dave").await,
        ("write".into(), "maintain".into(), json!(true))
    );
    assert_eq!(
        permission("mallory").await,
        ("read".into(), "triage".into(), json!(false))
    );
    let (status, _) = raw
        .send(
            "GET",
            &format!("{REPO}/collaborators/nobody/permission"),
            "application/json",
            None,
        )
        .await;
    assert_eq!(status, 404);

    let team = |slug: &str| format!("/orgs/acme/teams/{slug}/repos/acme/access-requests");
    let media = "application/vnd.github.v3.repository+json";
    let (status, repo) = raw.send("GET", &team("security"), media, None).await;
    assert_eq!(
        (
            status,
            repo["role_name"].as_str(),
            repo["permissions"]["admin"].as_bool()
        ),
        (200, Some("admin"), Some(true))
    );
    let (status, _) = raw
        .send(
            "GET",
            &team("security"),
            "application/vnd.github+json",
            None,
        )
        .await;
    assert_eq!(
        status, 204,
        "without the repository media type GitHub answers 204"
    );
    assert_eq!(raw.send("GET", &team("billing"), media, None).await.0, 404);
    gh.team("acme/ops", &[]);
    let (status, repo) = raw.send("GET", &team("ops"), media, None).await;
    assert_eq!(
        (
            status,
            repo["permissions"]["push"].as_bool(),
            repo["permissions"]["maintain"].as_bool()
        ),
        (200, Some(true), Some(false))
    );
}

#[tokio::test]
async fn symlinks_submodules_and_capped_file_lists_look_as_on_github() {
    let gh = GitHub::start().await;
    let pr = gh.open_pr("alice", &[("requests/a/ci.toml", "a\n")]);
    gh.push_symlink(pr, "requests/b/ci.toml", "../../README.md");
    gh.push_symlink(pr, "requests/c/ci.toml", "../../../etc/passwd");
    gh.push_submodule(pr, "requests/d", &"d".repeat(40));
    let head = gh.head_sha(pr);
    let raw = Raw::new(&gh);
    let content = |path: &str| format!("{REPO}/contents/{path}?ref={head}");
    let followed = raw.get(&content("requests/b/ci.toml")).await;
    assert_eq!(
        (followed["type"].as_str(), followed["path"].as_str()),
        (Some("file"), Some("README.md"))
    );
    let link = raw.get(&content("requests/c/ci.toml")).await;
    assert_eq!(
        (link["type"].as_str(), link["target"].as_str()),
        (Some("symlink"), Some("../../../etc/passwd"))
    );
    let module = raw.get(&content("requests/d")).await;
    assert_eq!(
        (module["type"].as_str(), module["sha"].as_str()),
        (Some("submodule"), Some("d".repeat(40).as_str()))
    );
    let files = raw.get(&format!("{REPO}/pulls/{pr}/files")).await;
    let symlink = files
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == "requests/b/ci.toml")
        .unwrap();
    assert_eq!(symlink["patch"], "@@ -0,0 +1,1 @@\n+../../README.md");

    gh.truncate_files_list(pr, 2);
    let listed = raw
        .get(&format!("{REPO}/pulls/{pr}/files?per_page=100"))
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(
        raw.get(&format!("{REPO}/pulls/{pr}")).await["changed_files"],
        4
    );

    gh.set_page_size_cap(1);
    let many = gh.commit_to_main(&[("x/1", "1"), ("x/2", "2"), ("x/3", "3")]);
    let (status, page) = raw
        .send(
            "GET",
            &format!("{REPO}/commits/{many}?page=2"),
            "application/json",
            None,
        )
        .await;
    assert_eq!(
        (status, page["files"][0]["filename"].as_str()),
        (200, Some("x/2"))
    );
    assert_eq!(page["stats"]["additions"], 3, "stats cover every file");
}

#[tokio::test]
async fn a_check_run_update_naming_head_sha_is_refused_with_422() {
    let gh = GitHub::start().await;
    let raw = Raw::new(&gh);
    let head = gh.main_head();
    let create = json!({ "name": "keygate", "head_sha": head, "status": "in_progress" });
    let (status, run) = raw
        .send(
            "POST",
            &format!("{REPO}/check-runs"),
            "application/json",
            Some(create),
        )
        .await;
    assert_eq!(status, 201, "{run}");
    let update = json!({ "name": "keygate", "head_sha": head, "status": "in_progress" });
    let url = format!("{REPO}/check-runs/{}", run["id"]);
    let (status, error) = raw
        .send("PATCH", &url, "application/json", Some(update))
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        error["message"],
        "Invalid request.\n\n\"head_sha\" is not a permitted key."
    );
    assert_eq!(
        gh.check_runs(&head)[0].updates,
        0,
        "a refused update changes nothing"
    );
    let (status, _) = raw
        .send(
            "POST",
            &format!("{REPO}/issues/comments/1"),
            "application/json",
            Some(json!({ "body": "x", "extra": 1 })),
        )
        .await;
    assert_eq!(status, 422, "every write is checked");
}
