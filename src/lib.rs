//! keygate: a GitOps approval gate for AWS IAM access keys. See DESIGN.md in the
//! project's shared folder for the contract, and README.md for use.

pub mod audit;
pub mod aws;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod facts;
pub mod github;
pub mod ids;
pub mod init;
pub mod ledger;
pub mod lifecycle;
pub mod metrics;
pub mod policy;
pub mod request;
pub mod server;
pub mod startup;
pub mod work;
pub mod worker;
pub mod workflow;
