//! Two gateways serve one device id in one queue group; one is killed outright (SIGKILL)
//! while a client keeps 8 calls in flight. Every request ends exactly once: one reply, or
//! none and the client's own timeout, never two; once the bus has dropped the dead
//! gateway, every call is answered by the survivor.
//!
//! The client counts the messages on each reply subject through its own inbox
//! subscription (a plain `request` would hide a second reply). Needs `nats-server` and the
//! `wirecall` binary; every process is killed by its own pid.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use async_nats::HeaderMap;
use common::{client, demo_server, error_text, gateway, nats_server, tools, wait_until};
use futures_util::StreamExt;
use tokio::time::Instant;

/// Calls kept in flight.
const IN_FLIGHT: usize = 8;
/// Calls made before the kill (it comes after the first `BEFORE_KILL / 2` are answered)
/// and after the bus has dropped the dead gateway.
const BEFORE_KILL: u64 = 80;
const AFTER_KILL: u64 = 80;
/// The deadline each call gives the device (its `Wirecall-Timeout-Ms`), and the client's
/// own, longer timeout: a live gateway always answers before the client gives up.
const DEVICE_DEADLINE_MS: u64 = 3000;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(6);

/// What became of one request.
#[derive(Debug, PartialEq)]
enum End {
    /// One reply, which was right.
    Answered,
    /// No reply before the client's timeout.
    TimedOut,
}

/// The client's side: what it sent, what is still in flight, and every reply counted by
/// reply subject.
struct Caller {
    client: async_nats::Client,
    inbox: String,
    replies: async_nats::Subscriber,
    sent: u64,
    /// Request number -> its client deadline.
    in_flight: HashMap<u64, Instant>,
    ended: HashMap<u64, End>,
    /// Messages on each reply subject, every one counted (a second reply too, and one
    /// after the client gave up).
    counts: HashMap<u64, usize>,
}

impl Caller {
    async fn new(nats_url: &str) -> Caller {
        let client = client(nats_url).await;
        let inbox = client.new_inbox();
        let replies = client.subscribe(format!("{inbox}.*")).await.unwrap();
        // The subscription is known to the server before the first request goes out.
        client.flush().await.unwrap();
        Caller {
            client,
            inbox,
            replies,
            sent: 0,
            in_flight: HashMap::new(),
            ended: HashMap::new(),
            counts: HashMap::new(),
        }
    }

    /// Request `n`: a `sleep` of 150 ms for odd ones (so calls are really in flight at the
    /// kill), `add [n, 1]` for even ones.
    async fn send(&mut self) {
        let n = self.sent;
        self.sent += 1;
        let (subject, args) = if n % 2 == 1 {
            ("wirecall.shared.sleep", "[150]".to_string())
        } else {
            ("wirecall.shared.add", format!("[{n}, 1]"))
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            "Wirecall-Timeout-Ms",
            DEVICE_DEADLINE_MS.to_string().as_str(),
        );
        self.client
            .publish_with_reply_and_headers(
                subject,
                format!("{}.{n}", self.inbox),
                headers,
                args.into(),
            )
            .await
            .unwrap();
        self.in_flight.insert(n, Instant::now() + CLIENT_TIMEOUT);
    }

    /// Keeps `IN_FLIGHT` calls going until `total` have been sent and every one has
    /// ended; `on_answer` sees the number answered so far after each answer.
    async fn run(&mut self, total: u64, mut on_answer: impl FnMut(usize)) {
        loop {
            while self.in_flight.len() < IN_FLIGHT && self.sent < total {
                self.send().await;
            }
            let Some(next_deadline) = self.in_flight.values().min().copied() else {
                return;
            };
            tokio::select! {
                message = self.replies.next() => {
                    let message = message.expect("the inbox subscription ended");
                    self.count(&message);
                    let answered = self.ended.values().filter(|e| **e == End::Answered).count();
                    on_answer(answered);
                }
                _ = tokio::time::sleep_until(next_deadline) => {
                    let now = Instant::now();
                    let late: Vec<u64> = self
                        .in_flight
                        .iter()
                        .filter(|(_, deadline)| **deadline <= now)
                        .map(|(n, _)| *n)
                        .collect();
                    for n in late {
                        self.in_flight.remove(&n);
                        self.ended.insert(n, End::TimedOut);
                    }
                }
            }
        }
    }

    /// Counts a reply; checks it if it is the first for a request still waiting.
    fn count(&mut self, message: &async_nats::Message) {
        let n: u64 = message
            .subject
            .rsplit('.')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a reply on {}", message.subject));
        *self.counts.entry(n).or_default() += 1;
        if self.in_flight.remove(&n).is_none() {
            return; // a second reply, or one after the timeout: counted, found below
        }
        let text = std::str::from_utf8(&message.payload).unwrap();
        let expected = if n % 2 == 1 {
            "null".to_string()
        } else {
            (n + 1).to_string()
        };
        assert_eq!(text, expected, "request {n}: {}", error_text(message));
        self.ended.insert(n, End::Answered);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_mid_run_every_request_ends_once() {
    let Some(wirecall) = tools() else { return };
    let (nats, nats_url) = nats_server();
    let (_device, on) = demo_server(&wirecall, &["--tcp", "127.0.0.1:0"]);
    let device = format!("shared=tcp://{}", on.strip_prefix("tcp ").unwrap());
    let mut victim = gateway(&nats_url, &["--device", &device], |_| {});
    let _survivor = gateway(&nats_url, &["--device", &device], |_| {});
    victim.detach_lines();
    let mut caller = Caller::new(&nats_url).await;
    // The two gateways and the caller.
    assert_eq!(nats.connections(), 3);

    // Calls in flight through both gateways; the victim is killed (SIGKILL, reaped)
    // halfway, with calls of its own still running.
    let mut killed = false;
    caller
        .run(BEFORE_KILL, |answered| {
            if !killed && answered as u64 >= BEFORE_KILL / 2 {
                victim.kill();
                killed = true;
            }
        })
        .await;
    assert!(killed);
    let timed_out_at_kill = caller
        .ended
        .values()
        .filter(|e| **e == End::TimedOut)
        .count();
    eprintln!("{timed_out_at_kill} of {BEFORE_KILL} requests were lost with the killed gateway");
    assert!(
        timed_out_at_kill <= IN_FLIGHT,
        "{timed_out_at_kill} timed out, more than were in flight at the kill"
    );

    // Once the server has dropped the dead gateway's connection, the survivor takes all.
    wait_until("the killed gateway's connection dropped", || async {
        nats.connections() == 2
    })
    .await;
    caller.run(BEFORE_KILL + AFTER_KILL, |_| {}).await;
    for n in BEFORE_KILL..BEFORE_KILL + AFTER_KILL {
        assert_eq!(caller.ended.get(&n), Some(&End::Answered), "request {n}");
    }

    // One more round trip on the same subscription: any stray second reply sent before
    // its answer has arrived by now (the server keeps one connection's messages in order).
    caller.run(BEFORE_KILL + AFTER_KILL + 1, |_| {}).await;
    let total = BEFORE_KILL + AFTER_KILL + 1;
    assert_eq!(caller.ended.len() as u64, total);
    for n in 0..total {
        let replies = caller.counts.get(&n).copied().unwrap_or(0);
        match caller.ended[&n] {
            End::Answered => assert_eq!(replies, 1, "request {n} answered {replies} times"),
            End::TimedOut => assert_eq!(replies, 0, "request {n} answered after its timeout"),
        }
    }
}
