pub mod app;
pub mod faults;
pub mod github;
pub mod moto;
pub mod moto_auth;
pub mod payloads;
pub mod story;
pub mod world;
