//! One moto server per test binary, started on a free loopback port. Never silently
//! skipped: when moto is missing the tests fail and say how to install it.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Moto {
    pub url: String,
    _child: Child,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

/// The shared moto server, started on first use.
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(start)
}

fn moto_command() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

fn start() -> Moto {
    start_with_env(&[])
}

/// A separate moto server of the caller's own, with `env` set for it (e.g.
/// `INITIAL_NO_AUTH_ACTION_COUNT`, which turns on IAM enforcement for the whole server).
/// It stops when the returned [`Moto`] is dropped or the test binary exits.
pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port");
    let cmd = moto_command();
    // The shell stops moto when this process exits and closes its stdin.
    let script = format!(
        "{} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid",
        shell_quote(&cmd.to_string_lossy())
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("PYTHONPATH", python_path())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("cannot run sh");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            panic!("{}", missing(&cmd));
        }
        if Instant::now() > deadline {
            panic!(
                "moto did not start within 30 s on port {port}. {}",
                missing(&cmd)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Keep stdin open for the life of the test binary.
    if let Some(stdin) = child.stdin.as_mut() {
        let _ = stdin.flush();
    }
    Moto { url, _child: child }
}

/// The server's PYTHONPATH: `moto_python/` first, whose `sitecustomize.py` makes each call
/// into moto's DynamoDB atomic, as DynamoDB's are (moto's threads race otherwise).
fn python_path() -> std::ffi::OsString {
    let own = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/moto_python");
    let mut paths = vec![own];
    if let Some(old) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&old));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

fn missing(cmd: &std::path::Path) -> String {
    format!(
        "moto_server could not be started ({}). The tests need the moto server for AWS: \
         run ./scripts/test (it installs moto into .venv), or `pip install 'moto[server]'`, \
         or set MOTO_SERVER_BIN to its path.",
        cmd.display()
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// An SDK configuration pointed at moto with dummy credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    sdk_config_as(endpoint, "testing", "testing").await
}

/// An SDK configuration pointed at `endpoint` with these credentials (an IAM user's access
/// key, for a moto server that enforces IAM policies).
pub async fn sdk_config_as(
    endpoint: &str,
    access_key_id: &str,
    secret_access_key: &str,
) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "keygate-tests",
        ))
        .load()
        .await
}
