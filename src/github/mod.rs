//! Everything that speaks GitHub: the App's authentication and REST client, and the
//! webhook edge (signature check, payload to event).

pub mod client;
pub mod webhook;
