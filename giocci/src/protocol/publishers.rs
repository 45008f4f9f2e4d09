//! Puts through publishers declared once per key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zenoh::pubsub::Publisher;
use zenoh::qos::CongestionControl;

use crate::ZenohError;

/// Publishers declared once per key and reused for every put on it: Zenoh
/// then works out where a key's samples go once, not at every put.
///
/// Puts block rather than drop when the link is congested. About
/// `capacity` keys at most keep a publisher (puts racing on new keys may
/// each declare one). When all are taken, a new key takes
/// the place of the key unused for longest if that one has been idle for a
/// while (30 s unless [`idle_after`](Publishers::idle_after) says
/// otherwise); if not, its puts go out without a publisher, as plain
/// session puts, until a place frees up.
#[derive(Debug)]
pub struct Publishers {
    session: zenoh::Session,
    capacity: usize,
    idle: Duration,
    declared: Mutex<HashMap<String, Declared>>,
}

#[derive(Debug)]
struct Declared {
    publisher: Arc<Publisher<'static>>,
    last_used: Instant,
}

impl Publishers {
    /// An empty set of publishers on `session`, for at most `capacity`
    /// keys at once.
    pub fn new(session: zenoh::Session, capacity: usize) -> Publishers {
        Publishers {
            session,
            capacity: capacity.max(1),
            idle: Duration::from_secs(30),
            declared: Mutex::default(),
        }
    }

    /// The same set, where a key unused for `idle` may give its place to a
    /// new one.
    pub fn idle_after(self, idle: Duration) -> Publishers {
        Publishers { idle, ..self }
    }

    /// Puts `payload` on `key`, through the key's publisher, declared first
    /// if there is room for it.
    pub async fn put(&self, key: &str, payload: Vec<u8>) -> Result<(), ZenohError> {
        let known = self.lock().get_mut(key).map(|declared| {
            declared.last_used = Instant::now();
            Arc::clone(&declared.publisher)
        });
        let publisher = match known {
            Some(publisher) => Some(publisher),
            None if self.make_room() => Some(self.declare(key).await?),
            None => None,
        };
        match publisher {
            Some(publisher) => publisher.put(payload).await,
            None => {
                self.session
                    .put(key, payload)
                    .congestion_control(CongestionControl::Block)
                    .await
            }
        }
    }

    /// How many keys have a publisher now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key has a publisher.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether there is room for one more publisher, after giving up the
    /// one unused for longest if it has been idle long enough.
    fn make_room(&self) -> bool {
        let mut declared = self.lock();
        if declared.len() < self.capacity {
            return true;
        }
        let oldest = declared
            .iter()
            .min_by_key(|(_, entry)| entry.last_used)
            .filter(|(_, entry)| entry.last_used.elapsed() >= self.idle)
            .map(|(key, _)| key.clone());
        match oldest {
            Some(key) => {
                declared.remove(&key);
                true
            }
            None => false,
        }
    }

    async fn declare(&self, key: &str) -> Result<Arc<Publisher<'static>>, ZenohError> {
        let publisher = self
            .session
            .declare_publisher(key.to_owned())
            .congestion_control(CongestionControl::Block)
            .await?;
        let publisher = Arc::new(publisher);
        // Two puts may have declared the key at once: keep the first.
        let mut declared = self.lock();
        let kept = declared.entry(key.to_owned()).or_insert_with(|| Declared {
            publisher: Arc::clone(&publisher),
            last_used: Instant::now(),
        });
        Ok(Arc::clone(&kept.publisher))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Declared>> {
        self.declared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::transport::{Mode, ZenohOptions};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn puts_arrive_and_the_set_stays_bounded() {
        let options = ZenohOptions {
            mode: Some(Mode::Peer),
            listen: vec!["tcp/127.0.0.1:0".into()],
            ..ZenohOptions::default()
        };
        let session = options.open().await.unwrap();
        let subscriber = session
            .declare_subscriber("test/publishers/**")
            .await
            .unwrap();
        let publishers = Publishers::new(session.clone(), 3);
        assert!(publishers.is_empty());

        for i in 0..5u8 {
            publishers
                .put(&format!("test/publishers/{i}"), vec![i])
                .await
                .unwrap();
        }
        // Keys beyond the three in use went out without a publisher.
        assert_eq!(publishers.len(), 3);
        // A key with a publisher reuses it.
        publishers.put("test/publishers/2", vec![2]).await.unwrap();
        assert_eq!(publishers.len(), 3);

        // Once idle, a key gives its place to a new one.
        let publishers = publishers.idle_after(Duration::ZERO);
        publishers.put("test/publishers/4", vec![4]).await.unwrap();
        assert_eq!(publishers.len(), 3);
        assert!(publishers.lock().contains_key("test/publishers/4"));

        let mut received = Vec::new();
        for _ in 0..7 {
            let sample = tokio::time::timeout(Duration::from_secs(10), subscriber.recv_async())
                .await
                .expect("a put did not arrive")
                .unwrap();
            received.push(sample.payload().to_bytes()[0]);
        }
        assert_eq!(received, [0, 1, 2, 3, 4, 2, 4]);
        session.close().await.unwrap();
    }
}
