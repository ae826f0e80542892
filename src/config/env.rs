//! `KEYGATE_<SECTION>_<KEY>` overrides, derived from the typed sections rather than listed.
//!
//! The known keys are read from the serialized defaults of [`Settings`], so a key added
//! to a section is overridable without touching this file. Each value is put into the TOML
//! document as the value its field takes, before the one typed deserialization; a value the
//! field refuses is reported here, naming the key and the variable.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::{Table, Value};

use super::secrets::{ALERTS_TOKEN_VAR, METRICS_TOKEN_VAR, PRIVATE_KEY_VAR, WEBHOOK_SECRET_VAR};
use super::{ConfigError, Settings, Source};

/// Variables of ours that are not keys of the file: handled elsewhere, never refused.
const RESERVED: [&str; 6] = [
    "KEYGATE_CONFIG",
    "KEYGATE_LOG",
    PRIVATE_KEY_VAR,
    WEBHOOK_SECRET_VAR,
    METRICS_TOKEN_VAR,
    ALERTS_TOKEN_VAR,
];

/// One key of the file, as the environment sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KnownKey {
    /// `server`, `github`, …
    pub section: String,
    /// `listen`, `app_id`, …
    pub name: String,
    /// Whether the field holds a list (which accepts a comma list as well as a TOML array).
    pub list: bool,
}

impl KnownKey {
    /// `section.name`, as errors and `Settings::source` spell it.
    pub fn dotted(&self) -> String {
        format!("{}.{}", self.section, self.name)
    }

    /// `KEYGATE_SECTION_NAME`.
    pub fn var(&self) -> String {
        format!("KEYGATE_{}_{}", self.section, self.name).to_uppercase()
    }
}

/// Every key of the file, from the serialized defaults (an absent optional key serializes as
/// null, so it is listed too).
pub(super) fn known_keys() -> Result<Vec<KnownKey>, ConfigError> {
    let defaults = Settings::deserialize(Value::Table(Table::new()))
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::to_value(s).map_err(|e| e.to_string()))
        .map_err(|e| ConfigError::Internal(format!("cannot list the settings: {e}")))?;
    let serde_json::Value::Object(sections) = defaults else {
        return Err(ConfigError::Internal("the settings are not a table".into()));
    };
    let mut keys = Vec::new();
    for (section, fields) in sections {
        let serde_json::Value::Object(fields) = fields else {
            return Err(ConfigError::Internal(format!("[{section}] is not a table")));
        };
        for (name, default) in fields {
            keys.push(KnownKey {
                section: section.clone(),
                name,
                list: default.is_array(),
            });
        }
    }
    Ok(keys)
}

/// Puts every known variable into `doc` and records it in `sources` as coming from the
/// environment, so the environment wins over the file. A variable inside one of our
/// sections that names no key is a typo and refused; any other `KEYGATE_*` variable belongs
/// to someone else (a wrapper script's `KEYGATE_BIN`, say) and is ignored.
pub(super) fn overlay(
    doc: &mut Table,
    env: &BTreeMap<String, String>,
    sources: &mut BTreeMap<String, Source>,
) -> Result<(), ConfigError> {
    let keys = known_keys()?;
    for (var, raw) in env {
        if RESERVED.contains(&var.as_str()) {
            continue;
        }
        let source = Source::Env(var.clone());
        if var == ACCOUNTS_VAR {
            overlay_accounts(doc, raw, sources)?;
            continue;
        }
        if var.starts_with("KEYGATE_ACCOUNTS_") {
            // An alias is a table name, which a variable's name cannot spell unambiguously.
            return Err(ConfigError::invalid(
                var,
                &source,
                format!(
                    "accounts are set as [accounts.<alias>] tables in the file, or all at once \
                     in {ACCOUNTS_VAR} as a TOML inline table such as {ACCOUNTS_EXAMPLE}; \
                     remove the variable"
                ),
            ));
        }
        let Some(key) = keys.iter().find(|k| k.var() == *var) else {
            let prefix = |k: &KnownKey| format!("KEYGATE_{}_", k.section.to_uppercase());
            let Some(section) = keys.iter().find(|k| var.starts_with(&prefix(k))) else {
                continue;
            };
            let mut known: Vec<String> = keys
                .iter()
                .filter(|k| k.section == section.section)
                .map(KnownKey::var)
                .collect();
            known.extend(
                [
                    PRIVATE_KEY_VAR,
                    WEBHOOK_SECRET_VAR,
                    METRICS_TOKEN_VAR,
                    ALERTS_TOKEN_VAR,
                ]
                .iter()
                .filter(|v| v.starts_with(&prefix(section)))
                .map(|v| v.to_string()),
            );
            return Err(ConfigError::invalid(
                var,
                &source,
                format!(
                    "keygate has no such setting; the variables of [{}] are {}",
                    section.section,
                    known.join(", ")
                ),
            ));
        };
        let value = value_for(key, raw)
            .map_err(|message| ConfigError::invalid(&key.dotted(), &source, message))?;
        let section = doc
            .entry(key.section.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        // A section that is not a table is the file's error, reported when it is read.
        if let Value::Table(t) = section {
            t.insert(key.name.clone(), value);
        }
        sources.insert(key.dotted(), source);
    }
    Ok(())
}

/// `[accounts]` from the environment, all at once (for Lambda, which has no file): a TOML
/// inline table of tables, e.g. [`ACCOUNTS_EXAMPLE`]. It replaces the file's accounts.
pub(super) const ACCOUNTS_VAR: &str = "KEYGATE_ACCOUNTS";
const ACCOUNTS_EXAMPLE: &str = "{ prod = { role_arn = \"arn:aws:iam::111111111111:role/keygate-issuer\", external_id = \"keygate-acme\" } }";

fn overlay_accounts(
    doc: &mut Table,
    raw: &str,
    sources: &mut BTreeMap<String, Source>,
) -> Result<(), ConfigError> {
    let source = Source::Env(ACCOUNTS_VAR.to_string());
    let refused = |why: String| {
        ConfigError::invalid(
            "accounts",
            &source,
            format!("is not a TOML inline table of accounts such as {ACCOUNTS_EXAMPLE}: {why}"),
        )
    };
    let parsed: Table = format!("accounts = {}", raw.trim())
        .parse()
        .map_err(|e: toml::de::Error| refused(e.message().trim().replace('\n', " ")))?;
    let Some(Value::Table(accounts)) = parsed.get("accounts") else {
        return Err(refused("it is no table".into()));
    };
    sources.retain(|key, _| !key.starts_with("accounts."));
    for alias in accounts.keys() {
        sources.insert(format!("accounts.{alias}"), source.clone());
    }
    doc.insert("accounts".into(), Value::Table(accounts.clone()));
    Ok(())
}

/// The TOML value a variable stands for. The text is read as a TOML value first (so `3`
/// is a number, `true` a boolean, `["a", "b"]` an array and `"x"` a quoted string); when
/// the field refuses that, or the text is no TOML value at all, it is taken as a plain
/// string (so `acme/requests` and `127.0.0.1:8080` need no quotes).
pub(super) fn value_for(key: &KnownKey, raw: &str) -> Result<Value, String> {
    let text = raw.trim();
    let taken = if key.list {
        list_value(text).and_then(|v| accepts(key, v))
    } else {
        match text.parse::<Value>() {
            Ok(v) => accepts(key, v)
                .or_else(|typed| accepts(key, Value::String(text.to_string())).map_err(|_| typed)),
            Err(_) => accepts(key, Value::String(text.to_string())),
        }
    };
    taken.map_err(|message| format!("`{text}` is not a valid value: {message}"))
}

/// A list variable: a TOML array (`['admin*', 'root']`) or a bare comma list
/// (`admin*,root`). Quotes or brackets in a comma list mean a mistyped array; taking them
/// literally would make globs that match nothing (a deny list that silently denies no one),
/// so they are refused.
fn list_value(text: &str) -> Result<Value, String> {
    if text.starts_with('[') {
        return match text.parse::<Value>() {
            Ok(v @ Value::Array(_)) => Ok(v),
            Ok(_) | Err(_) => Err("it is not a TOML array; quote each item, as in \
                 ['admin*', 'root'], or write a bare comma list such as admin*,root"
                .into()),
        };
    }
    let mut items = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        if item.contains(['\'', '"', '[', ']']) {
            return Err(format!(
                "the item `{item}` holds quotes or brackets; write a TOML array such as \
                 ['admin*', 'root'] or a bare comma list such as admin*,root"
            ));
        }
        items.push(Value::String(item.to_string()));
    }
    Ok(Value::Array(items))
}

/// `Ok(value)` when the key's field takes it. Every field is checked on its own (the
/// sections default every other field), so an error here is this variable's alone.
fn accepts(key: &KnownKey, value: Value) -> Result<Value, String> {
    let mut section = Table::new();
    section.insert(key.name.clone(), value.clone());
    let mut doc = Table::new();
    doc.insert(key.section.clone(), Value::Table(section));
    match Settings::deserialize(Value::Table(doc)) {
        Ok(_) => Ok(value),
        Err(e) => Err(e.message().trim().to_string()),
    }
}
