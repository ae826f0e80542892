//! keygate's integration tests: one binary (one link step), stories against the GitHub
//! stand-in and the moto server.

mod support;

mod accounts;
mod approvers;
mod audit;
mod auth;
mod check;
mod cli;
mod doctor;
mod holes;
mod issue;
mod lambda;
mod least_privilege;
mod least_privilege_member;
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
mod schema;
mod webhook;
mod window;
