//! moto for the library's own tests: the same server the integration tests start (one per
//! test binary, on a free loopback port, never silently skipped), and the DynamoDB client
//! and table names the ledger tests use. The SDK configuration is built here, with dummy
//! credentials and a fixed region, so nothing in the process environment is read or changed.

#[allow(dead_code)]
#[path = "../../tests/it/support/moto.rs"]
mod server;

pub use server::moto;

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
