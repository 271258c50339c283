//! The cold-init baseline: the smallest `lambda_runtime` function there is — it answers each
//! event with the event. Built beside the functions by `make bench`; each function's cold init
//! is reported as a ratio to this one's, measured in the same run.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
