//! keygate's integration tests: one binary (one link step), stories against the GitHub
//! stand-in and the moto server.

mod support;

mod approvers;
mod audit;
mod auth;
mod check;
mod cli;
mod doctor;
mod holes;
mod issue;
mod lambda;
mod leaks;
mod least_privilege;
mod life;
mod lifecycle;
mod lifecycle_crash;
mod metrics;
mod mixed;
mod process;
mod readers;
mod reconcile;
mod replicas;
mod retries;
mod rotation;
mod rotation_crash;
mod schema;
mod unused;
mod webhook;
mod window;
