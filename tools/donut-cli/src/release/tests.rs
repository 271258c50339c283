use super::*;

fn release(percent: u32) -> Release {
    Release {
        function_name: "donut-states-prod-sales-api-1a2b".into(),
        alias: "live".into(),
        version: "7".into(),
        canary_alarms: vec!["sales-canary-5xx".into(), "sales-canary-errors".into()],
        canary_percent: percent,
        canary_minutes: 10,
        keep_versions: 3,
    }
}

fn alias(primary: &str, routing: Option<(&str, f64)>, mark: Mark) -> Alias {
    Alias {
        primary: primary.into(),
        routing: routing.map(|(v, w)| (v.into(), w)),
        description: mark.describe(),
        revision_id: Some("r1".into()),
    }
}

fn seen(now: u64, firing: &[&str], calls: u64) -> Seen {
    Seen {
        firing: firing.iter().map(|s| s.to_string()).collect(),
        canary_invocations: calls,
        now,
    }
}

fn canary_since(since: u64) -> Alias {
    alias(
        "6",
        Some(("7", 0.1)),
        Mark::Canary {
            version: "7".into(),
            since,
        },
    )
}

const T0: u64 = 1_800_000_000;

#[test]
fn marks_read_back_what_they_wrote() {
    for mark in [
        Mark::Canary {
            version: "7".into(),
            since: T0,
        },
        Mark::RolledBack {
            version: "7".into(),
            why: "alarm a, b".into(),
        },
        Mark::Live {
            version: "12".into(),
        },
    ] {
        assert_eq!(Mark::parse(&mark.describe()), mark);
    }
    assert_eq!(Mark::parse("Donut-States: the live version"), Mark::Unknown);
    assert_eq!(
        Mark::parse("donut-release: canary 7 since soon"),
        Mark::Unknown
    );
    let long = Mark::RolledBack {
        version: "7".into(),
        why: "é".repeat(300),
    };
    assert!(long.describe().len() <= 256);
}

#[test]
fn an_alias_already_on_the_version_is_done_and_a_stray_routing_is_tidied() {
    let policy = Policy::default();
    let on = alias("7", None, Mark::Unknown);
    assert_eq!(
        next(&on, &release(10), &seen(T0, &["x"], 0), &policy),
        Next::Live
    );
    let stray = alias("7", Some(("6", 0.2)), Mark::Unknown);
    match next(&stray, &release(10), &seen(T0, &[], 0), &policy) {
        Next::Update(u) => {
            assert_eq!(u.why, Why::Tidy);
            assert_eq!((u.primary.as_str(), u.routing), ("7", None));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_new_version_starts_as_a_canary_at_the_stages_share() {
    let next = next(
        &alias(
            "6",
            None,
            Mark::Live {
                version: "6".into(),
            },
        ),
        &release(10),
        &seen(T0, &[], 0),
        &Policy::default(),
    );
    assert_eq!(
        next,
        Next::Update(AliasUpdate {
            why: Why::StartCanary,
            primary: "6".into(),
            routing: Some(("7".into(), 0.1)),
            mark: Mark::Canary {
                version: "7".into(),
                since: T0
            },
        })
    );
}

#[test]
fn zero_percent_goes_straight_to_the_new_version() {
    match next(
        &alias("6", None, Mark::Unknown),
        &release(0),
        &seen(T0, &[], 0),
        &Policy::default(),
    ) {
        Next::Update(u) => {
            assert_eq!(u.why, Why::AllAtOnce);
            assert_eq!((u.primary.as_str(), u.routing), ("7", None));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_canary_is_held_for_its_minutes_then_promoted() {
    let policy = Policy::default();
    let a = canary_since(T0);
    assert_eq!(
        next(&a, &release(10), &seen(T0 + 30, &[], 50), &policy),
        Next::Hold { remaining: 570 }
    );
    assert_eq!(
        next(&a, &release(10), &seen(T0 + 599, &[], 50), &policy),
        Next::Hold { remaining: 1 }
    );
    match next(&a, &release(10), &seen(T0 + 600, &[], 50), &policy) {
        Next::Update(u) => {
            assert_eq!(u.why, Why::Promote);
            assert_eq!((u.primary.as_str(), u.routing), ("7", None));
            assert_eq!(
                u.mark,
                Mark::Live {
                    version: "7".into()
                }
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn any_alarm_in_alarm_rolls_back_keeping_the_primary_and_naming_the_alarms() {
    let a = canary_since(T0);
    let n = next(
        &a,
        &release(10),
        &seen(T0 + 90, &["sales-canary-5xx", "sales-canary-errors"], 40),
        &Policy::default(),
    );
    match n {
        Next::Update(u) => {
            assert_eq!(u.why, Why::RollBack);
            assert_eq!((u.primary.as_str(), u.routing.clone()), ("6", None));
            assert_eq!(
                u.mark,
                Mark::RolledBack {
                    version: "7".into(),
                    why: "alarm sales-canary-5xx, sales-canary-errors".into()
                }
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_rolled_back_version_stays_rolled_back_unless_retried() {
    let back = alias(
        "6",
        None,
        Mark::RolledBack {
            version: "7".into(),
            why: "alarm sales-canary-5xx".into(),
        },
    );
    assert_eq!(
        next(&back, &release(10), &seen(T0, &[], 0), &Policy::default()),
        Next::RolledBack {
            why: "alarm sales-canary-5xx".into(),
            too_little_traffic: false
        }
    );
    let retry = Policy {
        retry: true,
        ..Policy::default()
    };
    assert!(matches!(
        next(&back, &release(10), &seen(T0, &[], 0), &retry),
        Next::Update(AliasUpdate {
            why: Why::StartCanary,
            ..
        })
    ));
    // A newer release after a rollback is a release of its own.
    let mut newer = release(10);
    newer.version = "8".into();
    assert!(matches!(
        next(&back, &newer, &seen(T0, &[], 0), &Policy::default()),
        Next::Update(AliasUpdate {
            why: Why::StartCanary,
            ..
        })
    ));
}

#[test]
fn a_resumed_canary_keeps_its_start_and_an_unreadable_one_starts_again() {
    // Crashed 4 minutes in: 6 minutes remain, not 10.
    assert_eq!(
        next(
            &canary_since(T0),
            &release(10),
            &seen(T0 + 240, &[], 5),
            &Policy::default()
        ),
        Next::Hold { remaining: 360 }
    );
    // A routing to the version whose start is not in the description (changed by hand):
    // the hold starts again, the share is the stage's.
    let by_hand = alias("6", Some(("7", 0.3)), Mark::Unknown);
    match next(
        &by_hand,
        &release(10),
        &seen(T0 + 240, &[], 5),
        &Policy::default(),
    ) {
        Next::Update(u) => {
            assert_eq!(u.why, Why::StartCanary);
            assert_eq!(u.routing, Some(("7".into(), 0.1)));
            assert_eq!(
                u.mark,
                Mark::Canary {
                    version: "7".into(),
                    since: T0 + 240
                }
            );
        }
        other => panic!("{other:?}"),
    }
    // A canary of an older release left behind: replaced by this release's.
    let stale = alias(
        "5",
        Some(("6", 0.1)),
        Mark::Canary {
            version: "6".into(),
            since: T0 - 999,
        },
    );
    match next(
        &stale,
        &release(10),
        &seen(T0, &["old-alarm"], 0),
        &Policy::default(),
    ) {
        Next::Update(u) => {
            assert_eq!(u.why, Why::RollBack);
            assert_eq!((u.primary.as_str(), u.routing.clone()), ("5", None));
            // Then this release's canary, as from scratch.
            let cleared = alias("5", None, u.mark);
            assert!(matches!(
                next(
                    &cleared,
                    &release(10),
                    &seen(T0, &[], 0),
                    &Policy::default()
                ),
                Next::Update(AliasUpdate {
                    why: Why::StartCanary,
                    ..
                })
            ));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_canary_nobody_called_is_held_longer_then_rolled_back_for_too_little_traffic() {
    let policy = Policy {
        min_invocations: 10,
        max_hold_factor: 3,
        retry: false,
    };
    let a = canary_since(T0);
    assert_eq!(
        next(&a, &release(10), &seen(T0 + 600, &[], 9), &policy),
        Next::Hold { remaining: 1200 }
    );
    match next(&a, &release(10), &seen(T0 + 1800, &[], 9), &policy) {
        Next::Update(u) => {
            assert_eq!(u.why, Why::RollBack);
            assert_eq!(u.primary, "6");
            let Mark::RolledBack { why, .. } = &u.mark else {
                panic!("{:?}", u.mark)
            };
            assert!(
                why.starts_with("too little traffic (9 invocation(s)"),
                "{why}"
            );
            // Read back, it is the other exit code.
            let back = alias("6", None, u.mark.clone());
            assert!(matches!(
                next(&back, &release(10), &seen(T0 + 1801, &[], 9), &policy),
                Next::RolledBack {
                    too_little_traffic: true,
                    ..
                }
            ));
        }
        other => panic!("{other:?}"),
    }
    // Enough calls late in the extension: promoted then.
    assert!(matches!(
        next(&a, &release(10), &seen(T0 + 1000, &[], 10), &policy),
        Next::Update(AliasUpdate {
            why: Why::Promote,
            ..
        })
    ));
}

#[test]
fn pruning_keeps_the_newest_and_whatever_the_alias_names() {
    let versions: Vec<String> = ["$LATEST", "1", "2", "3", "4", "5", "6", "7"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let live = alias("7", None, Mark::Unknown);
    assert_eq!(prunable(&versions, &live, 3), vec!["4", "3", "2", "1"]);
    // Rolled back to 2 while 3..7 exist: 2 stays.
    let old = alias("2", Some(("1", 0.1)), Mark::Unknown);
    assert_eq!(prunable(&versions, &old, 3), vec!["4", "3"]);
    assert!(prunable(&versions, &live, 10).is_empty());
}

#[test]
fn releases_are_read_and_checked() {
    let json = serde_json::json!({
        "sales-api": {"functionName": "f", "alias": "live", "version": "3",
            "canaryAlarms": ["a"], "canaryPercent": 10, "canaryMinutes": 10, "keepVersions": 3}
    });
    let r = parse_releases(&json).unwrap();
    assert_eq!(r["sales-api"].canary_percent, 10);
    for (field, bad) in [
        ("version", serde_json::json!("$LATEST")),
        ("canaryPercent", serde_json::json!(51)),
        ("keepVersions", serde_json::json!(1)),
        ("canaryAlarms", serde_json::json!([])),
    ] {
        let mut j = json.clone();
        j["sales-api"][field] = bad;
        assert!(parse_releases(&j).is_err(), "{field}");
    }
}

#[test]
fn the_exit_code_is_the_worst_outcome() {
    let live = || Ok(Outcome::Live { pruned: vec![] });
    let back = |t| {
        Ok(Outcome::RolledBack {
            why: "x".into(),
            too_little_traffic: t,
        })
    };
    let o = |v: Vec<anyhow::Result<Outcome>>| -> Vec<(String, anyhow::Result<Outcome>)> {
        v.into_iter().map(|o| ("f".to_owned(), o)).collect()
    };
    assert_eq!(exit_code(&o(vec![live(), live()])), exit::LIVE);
    assert_eq!(
        exit_code(&o(vec![live(), back(true)])),
        exit::TOO_LITTLE_TRAFFIC
    );
    assert_eq!(
        exit_code(&o(vec![back(true), back(false)])),
        exit::ROLLED_BACK
    );
    assert_eq!(
        exit_code(&o(vec![back(false), Err(anyhow::anyhow!("x"))])),
        exit::ERROR
    );
}

#[test]
fn an_alarm_in_alarm_before_the_canary_delays_its_start_and_changes_nothing() {
    let before = alias(
        "6",
        None,
        Mark::Live {
            version: "6".into(),
        },
    );
    assert_eq!(
        next(
            &before,
            &release(10),
            &seen(T0, &["sales-canary-5xx"], 0),
            &Policy::default()
        ),
        Next::StaleAlarms {
            alarms: vec!["sales-canary-5xx".into()]
        }
    );
    // All at once does not watch: nothing to wait for.
    assert!(matches!(
        next(
            &before,
            &release(0),
            &seen(T0, &["sales-canary-5xx"], 0),
            &Policy::default()
        ),
        Next::Update(AliasUpdate {
            why: Why::AllAtOnce,
            ..
        })
    ));
}
