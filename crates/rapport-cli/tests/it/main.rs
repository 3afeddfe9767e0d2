//! The `rapport` binary end to end: each test runs the real executable on a store in a temporary
//! directory and checks what it prints (JSON keys and values, exit codes, error messages).

mod cluster;
mod commands;
mod connectors;
mod definitions;
mod live;
mod money;
mod privacy;
mod quality;
mod route;
mod safety;
mod serve;
mod snapshot;
