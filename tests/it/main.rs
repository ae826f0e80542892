//! keygate's integration tests: one binary (one link step), stories against the GitHub
//! stand-in and the moto server.

mod support;

mod check;
mod cli;
mod issue;
mod lifecycle;
mod process;
mod webhook;
