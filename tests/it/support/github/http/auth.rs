//! Authentication as GitHub does it: the App's RS256 JWT for `/app` routes,
//! installation tokens (issued here, expiring) for everything else.

use rand::RngExt as _;
use serde_json::{Value, json};

use super::super::json::permissions;
use super::super::model::{Installation, Token, World, ts};
use super::super::{APP_ID, TEST_APP_PUBLIC_KEY};
use super::{Answer, AppRoute, DOCS_TOKEN, Reply, strip_scheme};

/// GitHub allows `exp - iat` of at most 10 minutes; this much slack on top.
const JWT_LEEWAY_SECS: i64 = 10;
/// How far in the future `iat` may be (clock drift GitHub tolerates).
const JWT_FUTURE_IAT_SECS: i64 = 60;

impl World {
    pub(crate) fn check_jwt(&self, auth: &str, docs: &str) -> Result<(), Reply> {
        let fail = |message: &str| Err(Reply::error(401, message, docs));
        let undecodable = "A JSON web token could not be decoded";
        let Some(jwt) = strip_scheme(auth, "bearer") else {
            return fail(undecodable);
        };
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_APP_PUBLIC_KEY.as_bytes())
            .expect("test public key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let Ok(token) = jsonwebtoken::decode::<Value>(jwt, &key, &validation) else {
            return fail(undecodable);
        };
        let claims = token.claims;
        let iss = match &claims["iss"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse::<u64>().ok(),
            _ => None,
        };
        match iss {
            None => return fail("'Issuer' claim ('iss') must be an Integer"),
            Some(id) if id != APP_ID => return fail(undecodable),
            Some(_) => {}
        }
        let bad_iat = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.";
        let bad_exp = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.";
        // GitHub's clock, which keygate's may be off from.
        let now = self.github_now().unix_timestamp();
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return fail(if claims["iat"].is_i64() {
                bad_exp
            } else {
                bad_iat
            });
        };
        if iat > now + JWT_FUTURE_IAT_SECS {
            return fail(bad_iat);
        }
        if exp <= now {
            return fail(bad_exp);
        }
        if exp - iat > 600 + JWT_LEEWAY_SECS || exp > now + 600 + JWT_LEEWAY_SECS {
            return fail("'Expiration time' claim ('exp') is too far in the future");
        }
        Ok(())
    }

    pub(crate) fn check_token(&self, auth: &str) -> Result<u64, Reply> {
        if auth.is_empty() {
            return Err(Reply::error(401, "Requires authentication", ""));
        }
        let token = strip_scheme(auth, "token").or_else(|| strip_scheme(auth, "bearer"));
        match token.and_then(|t| self.tokens.get(t)) {
            Some(t) if t.expires_at > self.github_now() => Ok(t.installation),
            _ => Err(Reply::error(401, "Bad credentials", "")),
        }
    }

    /// `POST /app/installations/{id}/access_tokens`. `repositories` (names without the owner)
    /// narrows the token; as on GitHub, naming one the installation cannot see is a `422`.
    pub(crate) fn create_token(&mut self, id: &str, body: &Value) -> Answer {
        let installation = id
            .parse::<u64>()
            .ok()
            .filter(|id| self.installations.contains_key(id))
            .ok_or_else(|| Reply::not_found(DOCS_TOKEN))?;
        let scope: Option<Vec<String>> = body["repositories"].as_array().map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        });
        if let Some(names) = &scope {
            let owner = &self.installations[&installation].account.login;
            if names
                .iter()
                .any(|n| self.find_repo(&format!("{owner}/{n}")).is_none())
            {
                return Err(Reply::error(
                    422,
                    "There is at least one repository that does not exist or is not accessible to the parent installation.",
                    DOCS_TOKEN,
                ));
            }
        }
        self.token_scopes.push(scope);
        let random: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(36)
            .map(char::from)
            .collect();
        let token = format!("ghs_{random}");
        // Saturating: a clock stopped at the calendar's end still mints.
        let expires_at = self.github_now().saturating_add(self.token_lifetime);
        let issued = Token {
            installation,
            expires_at,
        };
        self.tokens.insert(token.clone(), issued);
        self.tokens_issued += 1;
        Ok(Reply::json(
            201,
            json!({
                "token": token,
                "expires_at": ts(expires_at),
                "permissions": permissions(),
                "repository_selection": "all",
            }),
        ))
    }

    pub(crate) fn app_route(&self, route: AppRoute) -> Answer {
        let docs = "/apps/apps";
        let installation = |i: Option<&Installation>| match i {
            Some(i) => Ok(Reply::json(200, self.installation_json(i))),
            None => Err(Reply::not_found(docs)),
        };
        match route {
            AppRoute::Get => Ok(Reply::json(200, self.app_json())),
            AppRoute::Installations => {
                let all = self.installations.values();
                let list: Vec<Value> = all.map(|i| self.installation_json(i)).collect();
                Ok(Reply::json(200, Value::from(list)))
            }
            AppRoute::Installation(id) => {
                installation(id.parse().ok().and_then(|id| self.installations.get(&id)))
            }
            AppRoute::RepoInstallation(repo) => {
                let owner = self.find_repo(&repo).map(|i| &self.repos[i].owner.login);
                installation(owner.and_then(|o| {
                    let mut all = self.installations.values();
                    all.find(|i| i.account.login.eq_ignore_ascii_case(o))
                }))
            }
        }
    }
}
