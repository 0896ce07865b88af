//! jobwatch's sensor: capture → decode → flows and TCP reassembly → protocol dispatch →
//! sessions and transactions → JSON Lines output. The `jobwatch` binary is a thin shell over it.

pub mod app;
pub mod capture;
pub mod cli;
pub mod config;
pub mod decode;
pub mod event;
pub mod flow;
pub mod jobs;
pub mod monitor;
pub mod output;
pub mod pipeline;
pub mod reassembly;
pub mod reload;
pub mod rules;
pub mod stats;
pub mod time;
pub mod transaction;
pub mod yaml;
