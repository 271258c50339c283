//! The end-to-end tests, one binary: each module drives the local system (`donut_e2e`) its
//! own way — the pipeline, bad input, injected faults, password rotation, the factory
//! simulator's URL, the load tool.

mod admin;
mod bad_input;
mod buyers;
mod canary;
mod faults;
mod flood;
mod lane;
mod load_smoke;
mod pipeline;
mod rotation;
mod simulator;
mod smoke;
