//! Strangers flooding an address: a request at a steady rate until stopped, each answer's
//! status counted (the simulator's URL, the factory's lane).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Flood {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    answers: Arc<Mutex<BTreeMap<u16, u64>>>,
    task: tokio::task::JoinHandle<()>,
}

/// What a flood did: requests sent, and how many were answered with each status.
pub struct Sent {
    pub sent: u64,
    answers: BTreeMap<u16, u64>,
}

impl Sent {
    /// How many were answered with `status`.
    pub fn answered(&self, status: u16) -> u64 {
        self.answers.get(&status).copied().unwrap_or(0)
    }
}

impl Flood {
    /// `per_second` requests from `request` (a new one each time), sent with `http`.
    pub fn start<F, Fut>(http: reqwest::Client, per_second: u64, request: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = reqwest::Request> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let answers = Arc::new(Mutex::new(BTreeMap::new()));
        let (s, n, a) = (stop.clone(), sent.clone(), answers.clone());
        let request = Arc::new(request);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            while !s.load(Ordering::SeqCst) {
                tick.tick().await;
                let (http, request, n, a) = (http.clone(), request.clone(), n.clone(), a.clone());
                tokio::spawn(async move {
                    n.fetch_add(1, Ordering::SeqCst);
                    if let Ok(answer) = http.execute(request().await).await {
                        *a.lock()
                            .unwrap()
                            .entry(answer.status().as_u16())
                            .or_insert(0) += 1;
                    }
                });
            }
        });
        Self {
            stop,
            sent,
            answers,
            task,
        }
    }

    /// Stops it, and waits `settle` for the answers still on their way.
    pub async fn stop(self, settle: Duration) -> Sent {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        tokio::time::sleep(settle).await;
        Sent {
            sent: self.sent.load(Ordering::SeqCst),
            answers: self.answers.lock().unwrap().clone(),
        }
    }
}
