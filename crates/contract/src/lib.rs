//! The contract between the infra program and the functions it deploys: which functions there
//! are, which routes each serves, and each one's settings as environment variables. The
//! functions link this crate and nothing of the stage config (`donut-config`: the YAML schema,
//! its rules, the capacity budget), so no Lambda carries a YAML parser.

pub mod functions;
pub mod outputs;
pub mod routes;
pub mod settings;

pub use functions::Function;
