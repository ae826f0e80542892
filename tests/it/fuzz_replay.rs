//! The fuzz targets' properties on the stable build, in every `cargo test`: each target's
//! `check` (`fuzz/props/<target>.rs`, the very code its `cargo fuzz` target runs) over every
//! seed in `fuzz/corpus/<target>/`, then over a fixed number of deterministic mutations of them
//! (`mutate.rs`). No coverage feedback, so this finds less than `scripts/fuzz`; but it needs
//! no nightly toolchain and no instrumented build, and it runs the same inputs every time.
//!
//! A failure names the seed, the mutation (its number and its edits) and the property, writes
//! the input to `target/tmp/fuzz-replay/`, and says how to run that one case again.

#[path = "../../fuzz/props/codeowners.rs"]
mod codeowners;
#[path = "../../fuzz/props/config.rs"]
mod config;
mod mutate;
#[path = "../../fuzz/props/request.rs"]
mod request;
#[path = "../../fuzz/props/webhook.rs"]
mod webhook;

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use mutate::{Edit, Rng, mutate};

/// Mutated inputs per target, on top of its seeds. Chosen so the four together take about
/// 30 s in the debug build on the project's 2-core machine (docs: Testing).
const CASES: [(&str, u64); 4] = [
    ("request", 30_000),
    ("codeowners", 5_000),
    ("webhook", 5_000),
    ("config", 4_000),
];

/// Set to `TARGET:N` to run only mutation N of that target, or `TARGET:SEED` only that seed,
/// outside `catch_unwind`, so the panic and its backtrace are the property's own.
const ONE_CASE: &str = "FUZZ_REPLAY";

/// The one case `FUZZ_REPLAY` asks for.
enum Asked {
    Mutation(u64),
    Seed(String),
}

#[test]
fn request_properties_hold_on_the_seeds_and_their_mutations() {
    replay("request", request::check);
}

#[test]
fn codeowners_properties_hold_on_the_seeds_and_their_mutations() {
    replay("codeowners", codeowners::check);
}

#[test]
fn webhook_properties_hold_on_the_seeds_and_their_mutations() {
    replay("webhook", webhook::check);
}

#[test]
fn config_properties_hold_on_the_seeds_and_their_mutations() {
    replay("config", config::check);
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The seeds of a target, by file name, in name order.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = root().join("fuzz/corpus").join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut seeds: Vec<(String, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

fn cases(target: &str) -> u64 {
    CASES.iter().find(|(t, _)| *t == target).unwrap().1
}

/// Mutation `case` of a target: the seed it starts from, the input and its edits.
fn mutation(target: &str, case: u64, seeds: &[(String, Vec<u8>)]) -> (String, Vec<u8>, Vec<Edit>) {
    let index = usize::try_from(case).unwrap() % seeds.len();
    let (name, bytes) = &seeds[index];
    let mut rng = Rng::new(&[target.as_bytes(), name.as_bytes(), &case.to_le_bytes()]);
    let (input, edits) = mutate(&mut rng, bytes, seeds);
    (name.clone(), input, edits)
}

fn replay(target: &str, check: fn(&[u8])) {
    let seeds = seeds(target);
    match asked_for(target) {
        Some(Asked::Mutation(case)) => {
            let (seed, input, edits) = mutation(target, case, &seeds);
            eprintln!("{target} mutation {case} of {seed}: {}", described(&edits));
            return check(&input);
        }
        Some(Asked::Seed(name)) => {
            let (_, bytes) = seeds
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{ONE_CASE}: no seed {name} in fuzz/corpus/{target}"));
            return check(bytes);
        }
        None => {}
    }
    for (name, bytes) in &seeds {
        if let Err(why) = catch_unwind(AssertUnwindSafe(|| check(bytes))) {
            let seed = root().join("fuzz/corpus").join(target).join(name);
            panic!(
                "fuzz replay: a `{target}` property failed on the seed {}:\n  {}\n\
                 replay: {ONE_CASE}={target}:{name} cargo test --test it fuzz_replay::{target}\n\
                 \x20    or: cargo +nightly fuzz run -s none {target} {}",
                seed.display(),
                message(&*why),
                seed.display(),
            );
        }
    }
    for case in 0..cases(target) {
        let (seed, input, edits) = mutation(target, case, &seeds);
        if let Err(why) = catch_unwind(AssertUnwindSafe(|| check(&input))) {
            let saved = save(target, case, &input);
            panic!(
                "fuzz replay: a `{target}` property failed on mutation {case} of the seed \
                 fuzz/corpus/{target}/{seed} ({}):\n  {}\n\
                 input ({} bytes): {}\n\
                 replay: {ONE_CASE}={target}:{case} cargo test --test it fuzz_replay::{target}\n\
                 \x20    or: cargo +nightly fuzz run -s none {target} {}",
                described(&edits),
                message(&*why),
                input.len(),
                saved.display(),
                saved.display(),
            );
        }
    }
}

fn asked_for(target: &str) -> Option<Asked> {
    let asked = std::env::var(ONE_CASE).ok()?;
    let (t, case) = asked
        .split_once(':')
        .unwrap_or_else(|| panic!("{ONE_CASE}={asked}: TARGET:N or TARGET:SEED"));
    let case = match case.parse() {
        Ok(n) => Asked::Mutation(n),
        Err(_) => Asked::Seed(case.to_owned()),
    };
    (t == target).then_some(case)
}

fn described(edits: &[Edit]) -> String {
    let edits: Vec<String> = edits.iter().map(Edit::to_string).collect();
    edits.join("; ")
}

fn message(panic: &(dyn Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_owned(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".to_owned(),
    }
}

fn save(target: &str, case: u64, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-replay");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{target}-{case}"));
    std::fs::write(&path, input).unwrap();
    path
}
