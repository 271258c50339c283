//! Small helpers over gestalt's `Output`: the thin layer the program stands on, so that a move
//! to another Pulumi Rust SDK touches these and the bindings, not the modules.

use std::collections::HashMap;

use pulumi_gestalt_rust::Output;

/// One output holding every value of `outputs`, in order.
pub fn all<T: Clone + Send + Sync + 'static>(outputs: Vec<Output<T>>) -> Output<Vec<T>> {
    outputs
        .into_iter()
        .fold(Output::new(Vec::new()), |acc, next| {
            acc.and_then(move |done: Vec<T>| {
                next.map(move |value| {
                    let mut done = done.clone();
                    done.push(value);
                    done
                })
            })
        })
}

/// A string map (environment variables, tags) from named outputs.
pub fn map(entries: Vec<(&str, Output<String>)>) -> Output<HashMap<String, String>> {
    let keys: Vec<String> = entries.iter().map(|(k, _)| (*k).to_owned()).collect();
    all(entries.into_iter().map(|(_, v)| v).collect())
        .map(move |values| keys.iter().cloned().zip(values).collect())
}

/// `value`, but only once `after` (a resource's id or ARN) is known: ordering by data flow,
/// as gestalt 0.0.12 has no `dependsOn`. The order also reaches the engine's state: whatever
/// is built from the returned value depends on the resource `after` names
/// ([`crate::dependencies::ordered_after`]).
pub fn after(value: &Output<String>, after: &Output<String>) -> Output<String> {
    let value = value.clone();
    after.and_then(move |dependency: String| {
        value.map(move |value: String| {
            crate::dependencies::ordered_after(&value, &dependency);
            value
        })
    })
}

/// `value`, but only once every one of `dependencies` is known ([`after`] for each).
pub fn after_all(value: &Output<String>, dependencies: &[Output<String>]) -> Output<String> {
    dependencies
        .iter()
        .fold(value.clone(), |value, dependency| after(&value, dependency))
}

/// A constant.
pub fn known<T: Clone + Send + Sync + 'static>(value: T) -> Output<T> {
    Output::new(value)
}

/// A stable 64-bit FNV-1a of some bytes, in hex.
pub fn fnv_hex(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
