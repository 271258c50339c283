//! `PUT /knobs` on a running simulator changes the knobs it names and only those.

use factory_sim::{FactorySim, Knobs};
use serde_json::{Value, json};

#[tokio::test]
async fn a_put_changes_only_the_knobs_it_names() {
    let sim = FactorySim::start(
        "127.0.0.1:0".parse().unwrap(),
        Knobs {
            delay_ms: 2000,
            ..Knobs::default()
        },
        Some(1),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let put = |body: Value| http.put(format!("{}/knobs", sim.url())).json(&body).send();
    let changed: Value = put(json!({"fail_rate": 1.0}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(changed["fail_rate"], 1.0);
    assert_eq!(changed["delay_ms"], 2000, "left as it was");
    for bad in [
        json!({"fail_rate": 2.0}),
        json!({"delay": 5}),
        json!([1]),
        json!({"delay_ms": "soon"}),
    ] {
        assert_eq!(put(bad.clone()).await.unwrap().status(), 400, "{bad}");
    }
    let now: Value = http
        .get(format!("{}/knobs", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (now["fail_rate"].as_f64(), now["delay_ms"].as_u64()),
        (Some(1.0), Some(2000)),
        "a refused change changes nothing"
    );
}
