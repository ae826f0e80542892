//! keygate's integration tests: one binary (one link step), stories against the GitHub
//! stand-in and the moto server.

mod support;

mod accounts;
mod approvers;
mod audit;
mod auditor;
mod auth;
mod beside;
mod chat;
mod check;
mod cli;
mod doctor;
mod fuzz_replay;
mod ghes;
mod holes;
mod issue;
mod lambda;
mod leaks;
mod least_privilege;
mod least_privilege_member;
mod life;
mod lifecycle;
mod lifecycle_crash;
mod merge_queue;
mod metrics;
mod mixed;
mod process;
mod readers;
mod reconcile;
mod reference;
mod replicas;
mod retries;
mod rotation;
mod rotation_crash;
mod schema;
mod secrets;
mod soak;
mod unused;
mod webhook;
mod webhook_examples;
mod window;
