pub mod app;
pub mod faults;
pub mod github;
pub mod moto;
pub mod payloads;
pub mod world;
