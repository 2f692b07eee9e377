//! The MQTT side of `superpointpublish`: a bounded queue that the streaming thread fills without
//! waiting, and a thread that owns the `rumqttc` connection, hands records to the broker, and
//! reconnects with backoff.
//!
//! Bounds:
//! - The streaming thread only takes a mutex held for O(1) queue operations by either side: it
//!   never waits on the network or on the broker.
//! - At most `queue_size` records wait for the broker; when the queue is full the oldest record is
//!   dropped and counted (`dropped`).
//! - At most [`IN_FLIGHT`] records are handed to the client at a time (sent, not yet written for
//!   QoS 0 or acknowledged for QoS 1). When the connection breaks these are lost and counted as
//!   dropped (QoS 0 messages already written to the socket cannot be known to be lost).
//! - Reconnection waits [`BACKOFF_MIN`], doubling to [`BACKOFF_MAX`].
//! - Stopping waits up to [`DRAIN_TIMEOUT`] for the queued records to reach the broker; what is
//!   left then is counted as dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{Client, Connection, Event, MqttOptions, Outgoing, Packet, QoS};

/// Records handed to the client and not yet written (QoS 0) or acknowledged (QoS 1).
pub const IN_FLIGHT: u64 = 16;
/// First reconnection delay.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnection delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long stopping waits for queued records to reach the broker.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Largest MQTT packet (the protocol's limit, 256 MiB); a larger record is dropped.
pub const MAX_PACKET: usize = 268_435_455;
/// Largest packet accepted from the broker (acknowledgements only).
const MAX_INCOMING_PACKET: usize = 64 * 1024;

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub topic: String,
    pub qos: QoS,
    pub client_id: String,
    pub credentials: Option<(String, String)>,
    pub queue_size: usize,
}

/// Parses `mqtt://host[:port]` (port 1883 by default). The error says what is wrong.
pub fn parse_broker(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("mqtt://").ok_or_else(|| {
        format!("broker={url:?} must start with mqtt:// (e.g. mqtt://127.0.0.1:1883)")
    })?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("broker={url:?}: {p:?} is not a port number"))?,
        ),
        None => (rest, 1883),
    };
    if host.is_empty() {
        return Err(format!("broker={url:?} has no host"));
    }
    Ok((host.to_owned(), port))
}

/// What the worker tells the element (posted as warnings/logs by the element's callback).
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// The broker could not be reached or the connection broke (once per loss).
    Lost(String),
    /// Connected again after a loss.
    Reconnected,
}

struct Shared {
    queue: Mutex<VecDeque<Vec<u8>>>,
    wake: Condvar,
    stop: AtomicBool,
    dropped: AtomicU64,
}

/// A running publisher: [`publish`](Self::publish) from the streaming thread, [`stop`](Self::stop)
/// from `stop()`.
pub struct MqttPublisher {
    shared: Arc<Shared>,
    queue_size: usize,
    /// Largest record that fits in one packet with the topic.
    max_record: usize,
    worker: Option<JoinHandle<()>>,
}

impl MqttPublisher {
    /// Starts the connection thread. It connects in the background: an absent broker is reported
    /// through `notify` ([`Notice::Lost`]) and retried with backoff.
    pub fn start(
        config: MqttConfig,
        notify: impl Fn(Notice) + Send + 'static,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::with_capacity(config.queue_size)),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        });
        let queue_size = config.queue_size.max(1);
        let max_record = MAX_PACKET - config.topic.len() - 16;
        let worker = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("superpointpublish-mqtt".into())
                .spawn(move || run(config, &shared, notify))?
        };
        Ok(MqttPublisher {
            shared,
            queue_size,
            max_record,
            worker: Some(worker),
        })
    }

    /// Queues one record without waiting; a full queue drops its oldest record, and a record
    /// larger than an MQTT packet is dropped.
    pub fn publish(&self, record: Vec<u8>) {
        if record.len() > self.max_record {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut q = self.shared.queue.lock().unwrap();
        if q.len() >= self.queue_size {
            q.pop_front();
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
        q.push_back(record);
        drop(q);
        self.shared.wake.notify_one();
    }

    /// Records dropped so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Waits up to [`DRAIN_TIMEOUT`] for the queue to reach the broker, then disconnects and
    /// joins the thread. Returns the final dropped count.
    pub fn stop(mut self) -> u64 {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        self.dropped()
    }
}

impl Drop for MqttPublisher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// The connection thread.
fn run(config: MqttConfig, shared: &Shared, notify: impl Fn(Notice)) {
    let mut options = MqttOptions::new(&config.client_id, &config.host, config.port);
    options.set_keep_alive(Duration::from_secs(5));
    // Records grow with the keypoints (about 20 bytes each, 1.4 kB more with descriptors):
    // allow MQTT's largest packet out (rumqttc's default is 10 kB); nothing large comes in.
    options.set_max_packet_size(MAX_INCOMING_PACKET, MAX_PACKET);
    if let Some((user, password)) = &config.credentials {
        options.set_credentials(user, password);
    }
    let (client, mut connection) = Client::new(options, IN_FLIGHT as usize + 4);
    let mut connected = false;
    let mut lost_reported = false;
    let mut backoff = BACKOFF_MIN;
    // Handed to the client / written or acknowledged.
    let (mut sent, mut done) = (0u64, 0u64);
    let mut drain_deadline: Option<Instant> = None;
    loop {
        if shared.stop.load(Ordering::SeqCst) && drain_deadline.is_none() {
            drain_deadline = Some(Instant::now() + DRAIN_TIMEOUT);
        }
        let empty = shared.queue.lock().unwrap().is_empty();
        if let Some(deadline) = drain_deadline
            && ((empty && done == sent) || Instant::now() >= deadline)
        {
            break;
        }
        if connected {
            hand_over(&config, &client, shared, &mut sent, done);
        }
        match next_event(&mut connection, Duration::from_millis(50)) {
            None => {}
            Some(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                connected = true;
                backoff = BACKOFF_MIN;
                if lost_reported {
                    lost_reported = false;
                    notify(Notice::Reconnected);
                }
            }
            Some(Ok(Event::Incoming(Packet::PubAck(_)))) if config.qos != QoS::AtMostOnce => {
                done += 1
            }
            Some(Ok(Event::Outgoing(Outgoing::Publish(_)))) if config.qos == QoS::AtMostOnce => {
                done += 1
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                // Records handed over and not confirmed are gone with the session.
                shared.dropped.fetch_add(sent - done, Ordering::Relaxed);
                sent = done;
                connected = false;
                if !lost_reported {
                    lost_reported = true;
                    notify(Notice::Lost(format!(
                        "MQTT broker {}:{} unreachable or lost: {e}",
                        config.host, config.port
                    )));
                }
                if drain_deadline.is_some() {
                    break;
                }
                sleep_unless_stopped(shared, backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    let left = shared.queue.lock().unwrap().len() as u64 + (sent - done);
    shared.dropped.fetch_add(left, Ordering::Relaxed);
    if connected {
        let _ = client.try_disconnect();
        // Let the event loop send the DISCONNECT (bounded).
        for _ in 0..10 {
            match next_event(&mut connection, Duration::from_millis(20)) {
                Some(Ok(Event::Outgoing(Outgoing::Disconnect))) | Some(Err(_)) => break,
                _ => {}
            }
        }
    }
}

/// Moves queued records to the client while fewer than [`IN_FLIGHT`] are unconfirmed.
fn hand_over(config: &MqttConfig, client: &Client, shared: &Shared, sent: &mut u64, done: u64) {
    while *sent - done < IN_FLIGHT {
        let Some(record) = shared.queue.lock().unwrap().pop_front() else {
            return;
        };
        if client
            .try_publish(config.topic.as_str(), config.qos, false, record)
            .is_err()
        {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *sent += 1;
    }
}

fn next_event(
    connection: &mut Connection,
    timeout: Duration,
) -> Option<Result<Event, rumqttc::ConnectionError>> {
    connection.recv_timeout(timeout).ok()
}

/// Sleeps `d`, waking early when the element stops.
fn sleep_unless_stopped(shared: &Shared, d: Duration) {
    let q = shared.queue.lock().unwrap();
    let _ = shared
        .wake
        .wait_timeout_while(q, d, |_| !shared.stop.load(Ordering::SeqCst));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        assert_eq!(
            parse_broker("mqtt://127.0.0.1:1884").unwrap(),
            ("127.0.0.1".to_owned(), 1884)
        );
        assert_eq!(
            parse_broker("mqtt://broker.local").unwrap(),
            ("broker.local".to_owned(), 1883)
        );
        assert!(parse_broker("tcp://x:1").unwrap_err().contains("mqtt://"));
        assert!(
            parse_broker("mqtt://x:port")
                .unwrap_err()
                .contains("not a port")
        );
        assert!(
            parse_broker("mqtt://:1883")
                .unwrap_err()
                .contains("no host")
        );
    }
}
