//! `keygate init-repo DIR`: the starting files of a requests repository, so an operator's
//! first step is one command. Nothing here talks to GitHub or AWS, so the validate-only
//! keygate has it too.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

/// Where the release binaries are published, unless `--releases` says otherwise.
pub const DEFAULT_RELEASES: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/releases/download");

#[derive(clap::Args, Debug)]
pub struct InitRepoArgs {
    /// The requests repository's working tree (created when missing).
    pub dir: PathBuf,
    /// Overwrite files that exist.
    #[arg(long)]
    pub force: bool,
    /// The release's SHA256SUMS file: pins the binaries' sums in the workflow. Without it,
    /// the workflow reads the sums from the release when it runs.
    #[arg(long, value_name = "FILE")]
    pub sums: Option<PathBuf>,
    /// Where releases are downloaded from: `<URL>/v<version>/<asset>` (a mirror of
    /// keygate's releases, for instance).
    #[arg(long, value_name = "URL", default_value = DEFAULT_RELEASES)]
    pub releases: String,
}

/// The files `init-repo` writes, by path inside the repository.
pub fn files(version: &str, releases: &str, sums: &Sums) -> Vec<(&'static str, String)> {
    let workflow = include_str!("../../templates/requests-repo/validate.yml")
        .replace("{{VERSION}}", version)
        .replace("{{RELEASES}}", releases.trim_end_matches('/'))
        .replace("{{SHA256_X64}}", sums.x86_64.as_deref().unwrap_or(""))
        .replace("{{SHA256_ARM64}}", sums.aarch64.as_deref().unwrap_or(""));
    vec![
        (
            "requests/README.md",
            include_str!("../../templates/requests-repo/README.md").to_string(),
        ),
        (
            "schema/request.schema.json",
            include_str!("../../schema/request.schema.json").to_string(),
        ),
        (
            "CODEOWNERS",
            include_str!("../../templates/requests-repo/CODEOWNERS").to_string(),
        ),
        (".github/workflows/validate.yml", workflow),
    ]
}

/// The validate-only binaries' sums, as a release's SHA256SUMS lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sums {
    pub x86_64: Option<String>,
    pub aarch64: Option<String>,
}

impl Sums {
    /// Reads `sha256sum` output (`<hex>  <file>` or `<hex> *<file>`); a line for another file
    /// is ignored, a malformed sum for one of ours is an error.
    pub fn parse(text: &str) -> Result<Sums, String> {
        let mut sums = Sums::default();
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(hex), Some(file)) = (parts.next(), parts.next()) else {
                continue;
            };
            let slot = match file.trim_start_matches('*') {
                "keygate-validate-x86_64-linux" => &mut sums.x86_64,
                "keygate-validate-aarch64-linux" => &mut sums.aarch64,
                _ => continue,
            };
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!("`{hex}` is not a SHA-256 sum (for {file})"));
            }
            *slot = Some(hex.to_ascii_lowercase());
        }
        if sums.x86_64.is_none() && sums.aarch64.is_none() {
            return Err(
                "it lists neither keygate-validate-x86_64-linux nor keygate-validate-aarch64-linux"
                    .into(),
            );
        }
        Ok(sums)
    }
}

/// Writes the files; refuses (exit 2, nothing written) when one exists, unless `--force`.
pub fn init_repo_command(args: &InitRepoArgs) -> anyhow::Result<ExitCode> {
    let sums = match &args.sums {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Sums::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Sums::default(),
    };
    let files = files(env!("CARGO_PKG_VERSION"), &args.releases, &sums);
    let existing: Vec<&str> = files
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| args.dir.join(p).exists())
        .collect();
    if !existing.is_empty() && !args.force {
        eprintln!(
            "keygate: {} already holds {}; nothing was written (--force overwrites)",
            args.dir.display(),
            existing.join(", ")
        );
        return Ok(ExitCode::from(2));
    }
    for (path, text) in &files {
        write(&args.dir, path, text)?;
        println!("wrote {}", args.dir.join(path).display());
    }
    println!(
        "next: name the owners in {} (every line is commented out), commit, and add the keygate App to the repository",
        args.dir.join("CODEOWNERS").display()
    );
    Ok(ExitCode::SUCCESS)
}

fn write(dir: &Path, path: &str, text: &str) -> anyhow::Result<()> {
    let target = dir.join(path);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&target, text).with_context(|| format!("cannot write {}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_names_the_version_the_releases_and_the_pinned_sums() {
        let sums = Sums::parse(&format!(
            "{}  keygate-validate-x86_64-linux\n{} *keygate-validate-aarch64-linux\n{}  keygate-x86_64-linux\n",
            "a".repeat(64),
            "B".repeat(64),
            "c".repeat(64)
        ))
        .unwrap();
        assert_eq!(sums.aarch64.as_deref(), Some("b".repeat(64).as_str()));
        let files = files("1.2.3", "https://example.org/rel/", &sums);
        let workflow = &files
            .iter()
            .find(|(p, _)| p.ends_with("validate.yml"))
            .unwrap()
            .1;
        assert!(
            workflow.contains("KEYGATE_VERSION: \"1.2.3\""),
            "{workflow}"
        );
        assert!(workflow.contains("KEYGATE_RELEASES: \"https://example.org/rel\""));
        assert!(workflow.contains(&format!("KEYGATE_SHA256_X64: \"{}\"", "a".repeat(64))));
        assert!(
            !workflow.contains("{{"),
            "every placeholder filled: {workflow}"
        );
    }

    #[test]
    fn a_sums_file_without_our_binaries_or_with_a_bad_sum_is_refused() {
        assert!(Sums::parse("abc  other-file\n").is_err());
        let e = Sums::parse("xyz  keygate-validate-x86_64-linux\n").unwrap_err();
        assert!(e.contains("not a SHA-256"), "{e}");
    }
}
