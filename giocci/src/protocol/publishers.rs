//! Puts through publishers declared once per key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zenoh::pubsub::Publisher;
use zenoh::qos::CongestionControl;

use crate::ZenohError;

/// Publishers declared once per key and reused for every put on it: Zenoh
/// then works out where a key's samples go once, not at every put.
///
/// Puts block rather than drop when the link is congested. At most
/// `capacity` keys keep a publisher; declaring one more starts the set
/// over, so keys that are no longer used do not accumulate.
#[derive(Debug)]
pub struct Publishers {
    session: zenoh::Session,
    capacity: usize,
    declared: Mutex<HashMap<String, Arc<Publisher<'static>>>>,
}

impl Publishers {
    /// An empty set of publishers on `session`, for at most `capacity`
    /// keys at once.
    pub fn new(session: zenoh::Session, capacity: usize) -> Publishers {
        Publishers {
            session,
            capacity: capacity.max(1),
            declared: Mutex::default(),
        }
    }

    /// Puts `payload` on `key`, declaring the key's publisher first if it
    /// has none.
    pub async fn put(&self, key: &str, payload: Vec<u8>) -> Result<(), ZenohError> {
        let declared = self.lock().get(key).cloned();
        let publisher = match declared {
            Some(publisher) => publisher,
            None => self.declare(key).await?,
        };
        publisher.put(payload).await
    }

    /// How many keys have a publisher now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key has a publisher.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn declare(&self, key: &str) -> Result<Arc<Publisher<'static>>, ZenohError> {
        let publisher = self
            .session
            .declare_publisher(key.to_owned())
            .congestion_control(CongestionControl::Block)
            .await?;
        let publisher = Arc::new(publisher);
        let mut declared = self.lock();
        if declared.len() >= self.capacity {
            declared.clear();
        }
        // Two puts may have declared the key at once: keep the first.
        let kept = declared
            .entry(key.to_owned())
            .or_insert_with(|| Arc::clone(&publisher));
        Ok(Arc::clone(kept))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Publisher<'static>>>> {
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
        // The fourth key started the set over.
        assert_eq!(publishers.len(), 2);
        // A key with a publisher reuses it.
        publishers.put("test/publishers/4", vec![4]).await.unwrap();
        assert_eq!(publishers.len(), 2);

        let mut received = Vec::new();
        for _ in 0..6 {
            let sample = tokio::time::timeout(Duration::from_secs(10), subscriber.recv_async())
                .await
                .expect("a put did not arrive")
                .unwrap();
            received.push(sample.payload().to_bytes()[0]);
        }
        assert_eq!(received, [0, 1, 2, 3, 4, 4]);
        session.close().await.unwrap();
    }
}
