//! The configuration loader (`keygate::config::Settings::load`): a file and `KEYGATE_*`
//! variables, through the whole pipeline (TOML, overrides, typed sections, checks, secrets).
//!
//! Input: the bytes of `keygate.toml`. Lines `#env KEYGATE_…=value` (TOML comments) add
//! variables. Both secrets are always given as variables, so no secret file is ever read
//! (a fuzzed `webhook_secret_file = "/dev/zero"` must not hang the run).
//!
//! Two runners call `check`: the fuzz target `fuzz/fuzz_targets/config.rs` (coverage-guided,
//! nightly, `scripts/fuzz`) and keygate's test `tests/it/fuzz_replay.rs` (the seeds and a fixed
//! set of their mutations, on stable, in `./scripts/test`).
//!
//! Properties, beyond "no panic":
//! - a configuration that loads round-trips its key values: every key the file sets reads
//!   back as written (paths resolved next to the file, the documented trims), from the file
//!   unless a variable overrides it, and writing the loaded sections out and loading them
//!   again gives the same settings;
//! - an error names the key: a refused value names a key keygate has (or the variable), and
//!   the file or variable it came from; a TOML error's line exists in the file, and when the
//!   file is valid TOML but a value has the wrong type or name, the message names the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use keygate::config::{ConfigError, Settings, Source};
use serde_json::Value as Json;

const PATH_KEYS: [&str; 3] = [
    "github.private_key_file",
    "github.webhook_secret_file",
    "store.path",
];

fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
        .path()
}

fn environment(text: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([
        (
            "KEYGATE_GITHUB_WEBHOOK_SECRET".to_owned(),
            "fuzz-webhook-secret".to_owned(),
        ),
        (
            "KEYGATE_GITHUB_PRIVATE_KEY".to_owned(),
            "fuzz-private-key".to_owned(),
        ),
    ]);
    for line in text.lines() {
        if let Some((var, value)) = line.strip_prefix("#env ").and_then(|l| l.split_once('='))
            && var.starts_with("KEYGATE_")
            && var != "KEYGATE_CONFIG"
        {
            env.insert(var.to_owned(), value.to_owned());
        }
    }
    env
}

/// The loaded settings as one JSON object per section, as serde writes them.
fn sections(s: &Settings) -> BTreeMap<&'static str, Json> {
    let json = |v: Result<Json, serde_json::Error>| v.expect("a section serializes");
    BTreeMap::from([
        ("server", json(serde_json::to_value(&s.server))),
        ("github", json(serde_json::to_value(&s.github))),
        ("policy", json(serde_json::to_value(&s.policy))),
        ("lifecycle", json(serde_json::to_value(&s.lifecycle))),
        ("aws", json(serde_json::to_value(&s.aws))),
        ("store", json(serde_json::to_value(&s.store))),
        ("queue", json(serde_json::to_value(&s.queue))),
    ])
}

/// Writes `bytes` to `path` as a new file. Truncating and rewriting the same file makes ext4
/// flush it to disk on close (`auto_da_alloc`): milliseconds a run, most of its time.
fn write_new(path: &Path, bytes: &[u8]) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", path.display()),
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn var_of(key: &str) -> String {
    format!("KEYGATE_{}", key.replace('.', "_")).to_uppercase()
}

/// What the file's value for `key` must read back as.
fn expected(key: &str, value: &toml::Value, base: &Path) -> Option<Json> {
    if key == "lifecycle.reconcile_since" {
        // Written as a string or a TOML datetime, read back as RFC 3339: compared as
        // instants by the round trip.
        return None;
    }
    let mut json = serde_json::to_value(value).ok()?;
    if let Json::String(s) = &mut json {
        match key {
            "github.api_url" => *s = s.trim_end_matches('/').to_owned(),
            "policy.requests_dir" => *s = s.trim_matches('/').to_owned(),
            k if PATH_KEYS.contains(&k) && !s.is_empty() && Path::new(s.as_str()).is_relative() => {
                *s = base.join(s.as_str()).display().to_string();
            }
            _ => {}
        }
    }
    Some(json)
}

fn check_loaded(s: &Settings, text: &str, path: &Path, env: &BTreeMap<String, String>) {
    let doc: toml::Table = toml::from_str(text).expect("loaded, yet not TOML");
    let loaded = sections(s);
    for (section, fields) in &doc {
        let toml::Value::Table(fields) = fields else {
            panic!("[{section}] loaded though it is not a table");
        };
        let Some(Json::Object(got)) = loaded.get(section.as_str()) else {
            panic!("the unknown section [{section}] loaded");
        };
        for (name, value) in fields {
            let key = format!("{section}.{name}");
            let var = var_of(&key);
            if env.contains_key(&var) {
                assert_eq!(s.source(&key), Source::Env(var), "{key}");
                continue;
            }
            assert_eq!(s.source(&key), Source::File(path.to_path_buf()), "{key}");
            if let Some(want) = expected(&key, value, dir()) {
                assert_eq!(
                    got.get(name.as_str()),
                    Some(&want),
                    "{key} did not read back"
                );
            }
        }
    }
    assert_eq!(Ok(s.listen), s.server.listen.parse(), "server.listen");
    round_trip(&loaded);
}

/// The loaded sections written out as a file and loaded again give the same settings.
fn round_trip(loaded: &BTreeMap<&'static str, Json>) {
    let mut doc = toml::Table::new();
    for (section, value) in loaded {
        let Json::Object(fields) = value else {
            continue;
        };
        let mut table = toml::Table::new();
        for (name, value) in fields {
            let mut value = value.clone();
            // Relative paths from variables are taken as given; in a file they would be
            // resolved next to it, so write them resolved.
            if PATH_KEYS.contains(&format!("{section}.{name}").as_str())
                && let Json::String(p) = &mut value
                && !p.is_empty()
                && Path::new(p.as_str()).is_relative()
            {
                *p = dir().join(p.as_str()).display().to_string();
            }
            if let Ok(v) = toml::Value::try_from(&value) {
                table.insert(name.clone(), v);
            }
        }
        doc.insert((*section).to_owned(), toml::Value::Table(table));
    }
    let text = toml::to_string(&doc).expect("the loaded settings write out as TOML");
    let again_path = dir().join("round-trip.toml");
    write_new(&again_path, text.as_bytes());
    let env = environment("");
    let again = Settings::load(Some(&again_path), env)
        .unwrap_or_else(|e| panic!("loaded settings, written out, refused: {e}\n{text}"));
    let mut want = loaded.clone();
    for key in PATH_KEYS {
        let (section, name) = key.split_once('.').expect("dotted");
        if let Some(Json::String(p)) = want.get_mut(section).and_then(|v| v.get_mut(name))
            && !p.is_empty()
            && Path::new(p.as_str()).is_relative()
        {
            *p = dir().join(p.as_str()).display().to_string();
        }
    }
    assert_eq!(
        sections(&again),
        want,
        "the round trip changed the settings\n{text}"
    );
}

fn known_keys() -> Vec<String> {
    let defaults = Settings::load(Some(&empty_file()), environment("")).expect("defaults load");
    let mut keys = vec![
        "github.private_key".to_owned(),
        "github.webhook_secret".to_owned(),
    ];
    for (section, value) in sections(&defaults) {
        if let Json::Object(fields) = value {
            keys.extend(fields.keys().map(|name| format!("{section}.{name}")));
        }
    }
    keys
}

fn empty_file() -> PathBuf {
    let path = dir().join("empty.toml");
    std::fs::write(&path, "").expect("write the empty file");
    path
}

fn check_refused(e: &ConfigError, bytes: &[u8], path: &Path, env: &BTreeMap<String, String>) {
    static KNOWN: OnceLock<Vec<String>> = OnceLock::new();
    let known = KNOWN.get_or_init(known_keys);
    let shown = e.to_string();
    match e {
        ConfigError::Read { path: read, .. } => {
            assert_eq!(
                read, path,
                "an unreadable file that is not the one given: {e}"
            );
            assert!(
                std::str::from_utf8(bytes).is_err(),
                "a UTF-8 file unreadable: {e}"
            );
        }
        ConfigError::Syntax {
            path: named,
            message,
        } => {
            assert_eq!(named, path, "a syntax error about another file: {e}");
            let text = std::str::from_utf8(bytes).expect("read, so UTF-8");
            if let Some(line) = message
                .strip_prefix("line ")
                .and_then(|m| m.split(',').next())
            {
                let line: usize = line.parse().expect("a line number");
                assert!(
                    line >= 1 && line <= text.split('\n').count(),
                    "line {line}: {e}"
                );
            }
            if let Ok(doc) = toml::from_str::<toml::Table>(text) {
                // Valid TOML, refused by type or name: the message must say which key.
                // A section, a key, or `section.key`, in backquotes as keygate and toml
                // quote them.
                let mut named = Vec::new();
                for (section, fields) in &doc {
                    named.push(section.clone());
                    for name in fields.as_table().into_iter().flat_map(|t| t.keys()) {
                        named.push(name.clone());
                        named.push(format!("{section}.{name}"));
                    }
                }
                assert!(
                    named.iter().any(|n| message.contains(&format!("`{n}`"))),
                    "a type error that names no key of {named:?}: {e}"
                );
            }
        }
        ConfigError::Invalid { key, origin, .. } => {
            let is_var = env.contains_key(key.as_str());
            assert!(known.contains(key) || is_var, "an error about no key: {e}");
            assert!(shown.contains(key.as_str()), "{e}");
            match origin {
                Source::Env(var) => assert!(env.contains_key(var), "from an unset variable: {e}"),
                Source::File(p) => assert_eq!(p, path, "from another file: {e}"),
                Source::Default => {}
                // Only `set_remote_secrets`, after loading, records this source.
                Source::SecretsManager(arn) => panic!("load named the secret {arn}: {e}"),
            }
        }
        ConfigError::Missing(_) | ConfigError::Internal(_) => panic!("load gave {e}"),
    }
}

/// Checks the properties above on one input; panics, saying which, when one fails.
pub fn check(bytes: &[u8]) {
    let path = dir().join("keygate.toml");
    write_new(&path, bytes);
    let text = String::from_utf8_lossy(bytes);
    let env = environment(&text);
    match Settings::load(Some(&path), env.clone()) {
        Ok(s) => check_loaded(&s, &text, &path, &env),
        Err(e) => check_refused(&e, bytes, &path, &env),
    }
}
