//! `[accounts.<alias>]` (DESIGN §9): the AWS accounts keygate issues keys in, each by the
//! issuer role it assumes there. Without the section keygate issues in the account of its
//! own credentials, exactly as before. Pure: the checks take plain values and say, in a
//! phrase, what is wrong.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::AccountAlias;

/// One `[accounts.<alias>]` table as the file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSection {
    /// The issuer role keygate assumes in that account, e.g.
    /// `arn:aws:iam::111111111111:role/keygate-issuer` (`deploy/keygate-member.yaml`).
    pub role_arn: String,
    /// The external ID the role's trust policy requires (`sts:ExternalId`).
    pub external_id: Option<String>,
    /// The region of that account's secrets; default: keygate's own region.
    pub region: Option<String>,
}

/// One account, checked: its alias, its role and the account ID the role ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub alias: AccountAlias,
    pub role_arn: String,
    /// The 12-digit account ID, from `role_arn`.
    pub account_id: String,
    /// The role's name, from `role_arn` (without its path).
    pub role_name: String,
    pub external_id: Option<String>,
    pub region: Option<String>,
}

/// The accounts of `[accounts]`, by alias; empty without the section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts(BTreeMap<AccountAlias, Account>);

impl Accounts {
    /// Checks every table; the error names the key (`accounts.<alias>` or one of its fields)
    /// and what is wrong.
    pub fn check(raw: &BTreeMap<String, AccountSection>) -> Result<Accounts, (String, String)> {
        let mut accounts = BTreeMap::new();
        let mut by_id: BTreeMap<String, AccountAlias> = BTreeMap::new();
        for (alias, section) in raw {
            let key = format!("accounts.{alias}");
            let alias = AccountAlias::parse(alias).map_err(|why| (key.clone(), why))?;
            let account = check_account(&alias, section)?;
            if let Some(other) = by_id.insert(account.account_id.clone(), alias.clone()) {
                return Err((
                    format!("{key}.role_arn"),
                    format!(
                        "accounts.{other} names the same AWS account {}: one account, one \
                         alias (keygate keeps one lease per IAM user of an account, and two \
                         aliases would let two issuances for one user run at once)",
                        account.account_id
                    ),
                ));
            }
            accounts.insert(alias, account);
        }
        Ok(Accounts(accounts))
    }

    /// Whether `[accounts]` names any account: then requests live at
    /// `<requests_dir>/<alias>/<iam_user>/<name>.toml`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn aliases(&self) -> Vec<AccountAlias> {
        self.0.keys().cloned().collect()
    }

    pub fn get(&self, alias: &AccountAlias) -> Option<&Account> {
        self.0.get(alias)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Account> {
        self.0.values()
    }
}

fn check_account(alias: &AccountAlias, s: &AccountSection) -> Result<Account, (String, String)> {
    let key = |field: &str| format!("accounts.{alias}.{field}");
    let (account_id, role_name) =
        parse_role_arn(&s.role_arn).map_err(|why| (key("role_arn"), why))?;
    if let Some(id) = &s.external_id {
        check_external_id(id).map_err(|why| (key("external_id"), why))?;
    }
    if let Some(region) = &s.region {
        check_region(region).map_err(|why| (key("region"), why))?;
    }
    Ok(Account {
        alias: alias.clone(),
        role_arn: s.role_arn.clone(),
        account_id,
        role_name,
        external_id: s.external_id.clone(),
        region: s.region.clone(),
    })
}

/// `arn:<partition>:iam::<12 digits>:role/<path/><name>`: the account ID and the role name.
pub fn parse_role_arn(arn: &str) -> Result<(String, String), String> {
    let example = "such as arn:aws:iam::111111111111:role/keygate-issuer";
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return Err(format!("`{arn}` is not an IAM role ARN {example}"));
    };
    let partition_ok = !partition.is_empty()
        && partition
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-');
    if prefix != "arn" || !partition_ok || service != "iam" || !region.is_empty() {
        return Err(format!("`{arn}` is not an IAM role ARN {example}"));
    }
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{arn}` does not name a 12-digit AWS account ID; write the role's ARN {example}"
        ));
    }
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return Err(format!(
            "`{arn}` names no role; write the role's ARN {example}"
        ));
    };
    let name = path_and_name.rsplit('/').next().unwrap_or(path_and_name);
    let name_ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !name_ok {
        return Err(format!(
            "`{arn}` ends in no valid role name (1 to 64 of A-Za-z0-9+=,.@_-)"
        ));
    }
    Ok((account.to_string(), name.to_string()))
}

/// STS's rule for `ExternalId`: 2–1224 of `\w+=,.@:/-`.
fn check_external_id(id: &str) -> Result<(), String> {
    let ok = (2..=1224).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(
            "must be 2 to 1224 of the characters A-Za-z0-9_+=,.@:/- (what STS takes as an \
             external ID); remove the key when the role requires none"
                .into(),
        )
    }
}

/// A region name such as `eu-west-1`.
fn check_region(region: &str) -> Result<(), String> {
    let ok = !region.is_empty()
        && region.contains('-')
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{region}` is not an AWS region such as eu-west-1; remove the key for keygate's \
             own region"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(arn: &str) -> AccountSection {
        AccountSection {
            role_arn: arn.into(),
            external_id: Some("keygate-acme".into()),
            region: None,
        }
    }

    #[test]
    fn a_role_arn_gives_its_account_and_role_name() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::111111111111:role/keygate-issuer").unwrap(),
            ("111111111111".into(), "keygate-issuer".into())
        );
        assert_eq!(
            parse_role_arn("arn:aws-us-gov:iam::222222222222:role/ops/keygate-issuer").unwrap(),
            ("222222222222".into(), "keygate-issuer".into()),
            "a path is allowed; the name is its last part"
        );
        for (bad, says) in [
            ("keygate-issuer", "not an IAM role ARN"),
            ("arn:aws:iam::1111:role/x", "12-digit"),
            ("arn:aws:iam::111111111111:user/x", "names no role"),
            ("arn:aws:sts::111111111111:role/x", "not an IAM role ARN"),
            ("arn:aws:iam::111111111111:role/", "no valid role name"),
        ] {
            let why = parse_role_arn(bad).unwrap_err();
            assert!(why.contains(says), "{bad}: {why}");
        }
    }

    #[test]
    fn accounts_are_checked_and_each_error_names_its_key() {
        let mut raw = BTreeMap::new();
        raw.insert(
            "prod".to_string(),
            section("arn:aws:iam::111111111111:role/keygate-issuer"),
        );
        raw.insert(
            "dev".to_string(),
            AccountSection {
                region: Some("eu-west-1".into()),
                ..section("arn:aws:iam::222222222222:role/keygate-issuer")
            },
        );
        let accounts = Accounts::check(&raw).unwrap();
        assert_eq!(
            accounts.aliases(),
            [AccountAlias::new("dev"), AccountAlias::new("prod")]
        );
        let dev = accounts.get(&AccountAlias::new("dev")).unwrap();
        assert_eq!(dev.account_id, "222222222222");
        assert_eq!(dev.region.as_deref(), Some("eu-west-1"));

        let mut bad = raw.clone();
        bad.insert("Prod".into(), section("arn:aws:iam::333333333333:role/x"));
        assert_eq!(Accounts::check(&bad).unwrap_err().0, "accounts.Prod");
        let mut bad = raw.clone();
        bad.get_mut("dev").unwrap().external_id = Some("x".into());
        assert_eq!(
            Accounts::check(&bad).unwrap_err().0,
            "accounts.dev.external_id"
        );
        let mut bad = raw.clone();
        bad.get_mut("dev").unwrap().region = Some("Europe".into());
        assert_eq!(Accounts::check(&bad).unwrap_err().0, "accounts.dev.region");
    }

    #[test]
    fn two_aliases_of_one_account_are_refused() {
        let mut raw = BTreeMap::new();
        raw.insert("a".into(), section("arn:aws:iam::111111111111:role/r1"));
        raw.insert("b".into(), section("arn:aws:iam::111111111111:role/r2"));
        let (key, why) = Accounts::check(&raw).unwrap_err();
        assert_eq!(key, "accounts.b.role_arn");
        assert!(
            why.contains("accounts.a names the same AWS account"),
            "{why}"
        );
    }
}
