//! keygate: a GitOps approval gate for AWS IAM access keys. See DESIGN.md in the
//! project's shared folder for the contract, and README.md for use.
//!
//! The modules behind the `service` feature (on by default) talk to AWS, GitHub and the
//! ledger. The rest are pure and are all `keygate validate` and `keygate owners` need, so the
//! requesters' workflow builds them alone with `--no-default-features`.

pub mod cli;
pub mod config;
pub mod facts;
pub mod ids;
pub mod policy;
pub mod request;

#[cfg(feature = "service")]
pub mod audit;
#[cfg(feature = "service")]
pub mod aws;
#[cfg(feature = "service")]
pub mod doctor;
#[cfg(feature = "service")]
pub mod github;
#[cfg(feature = "service")]
pub mod init;
#[cfg(feature = "service")]
pub mod lambda;
#[cfg(feature = "service")]
pub mod leak;
#[cfg(feature = "service")]
pub mod ledger;
#[cfg(feature = "service")]
pub mod lifecycle;
#[cfg(feature = "service")]
pub mod metrics;
#[cfg(feature = "service")]
pub mod queue;
#[cfg(feature = "service")]
pub mod server;
#[cfg(feature = "service")]
pub mod startup;
#[cfg(feature = "service")]
pub mod work;
#[cfg(feature = "service")]
pub mod worker;
#[cfg(feature = "service")]
pub mod workflow;
