//! keygate's integration tests: one binary (one link step), stories against the GitHub
//! stand-in and the moto server.

mod support;

mod approvers;
mod audit;
mod auth;
mod beside;
mod check;
mod cli;
mod doctor;
mod holes;
mod issue;
mod lambda;
mod least_privilege;
mod lifecycle;
mod lifecycle_crash;
mod merge_queue;
mod metrics;
mod process;
mod readers;
mod reconcile;
mod replicas;
mod retries;
mod schema;
mod webhook;
mod window;
