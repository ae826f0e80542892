//! The moto server for the library's own tests (the integration tests have theirs in
//! `tests/it/support/moto.rs`): one per test binary, on a free loopback port, stopped when the
//! binary exits. Never silently skipped: when moto is missing the tests fail and say how to
//! install it. The SDK configuration is built here, with dummy credentials and a fixed region,
//! so nothing in the process environment is read or changed.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Moto {
    pub url: String,
    _child: Mutex<Child>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

/// The shared moto server, started on first use.
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(start)
}

fn moto_command() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

fn start() -> Moto {
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
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("cannot run sh");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
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
    if let Some(stdin) = child.stdin.as_mut() {
        let _ = stdin.flush();
    }
    Moto {
        url: format!("http://127.0.0.1:{port}"),
        _child: Mutex::new(child),
    }
}

fn missing(cmd: &std::path::Path) -> String {
    format!(
        "moto_server could not be started ({}). The ledger tests need the moto server for \
         DynamoDB: run ./scripts/test (it installs moto into .venv), or \
         `pip install 'moto[server]'`, or set MOTO_SERVER_BIN to its path.",
        cmd.display()
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A DynamoDB client for moto: dummy credentials, a fixed region, no instance metadata.
pub fn dynamodb() -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&moto().url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "keygate-tests",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A table name no other test uses.
pub fn unique_table() -> String {
    format!("keygate-test-{}", uuid::Uuid::new_v4().simple())
}
