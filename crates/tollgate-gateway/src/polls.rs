//! The reference API's long polling: a streamed call started without `requestId` runs in the
//! background; later calls with `requestId` (and the same key) get its text once done. Results wait
//! to be fetched for a while, and memory is bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

#[derive(Debug)]
enum State {
    Running,
    Done(Result<serde_json::Value, ApiError>),
}

#[derive(Debug)]
struct Entry {
    key_id: String,
    state: State,
    finished_at: Option<Instant>,
}

/// What a poll finds.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    Running,
    Done(Result<serde_json::Value, ApiError>),
    Unknown,
}

/// Why a background call could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Every slot of the gateway holds a running call.
    Gateway,
    /// This key holds as many calls (running or waiting to be fetched) as one key may.
    Key,
}

#[derive(Debug)]
pub struct LongPolls {
    ttl: Duration,
    capacity: usize,
    per_key: usize,
    inner: Mutex<(HashMap<String, Entry>, VecDeque<String>)>,
}

impl LongPolls {
    pub fn new(ttl: Duration, capacity: usize, per_key: usize) -> LongPolls {
        LongPolls {
            ttl,
            capacity: capacity.max(1),
            per_key: per_key.max(1),
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<String, Entry>, VecDeque<String>)> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a new running call, unless every slot holds a running call or the key holds
    /// its share: one key polling slowly (or never) cannot take every slot.
    pub fn start(&self, request_id: &str, key_id: &str) -> Result<(), Full> {
        let mut guard = self.lock();
        let (entries, order) = &mut *guard;
        self.expire(entries, order);
        if entries
            .values()
            .filter(|entry| entry.key_id == key_id)
            .count()
            >= self.per_key
        {
            return Err(Full::Key);
        }
        if entries.len() >= self.capacity {
            // Make room by dropping the oldest finished result, never a running call.
            let Some(at) = order.iter().position(|id| {
                entries
                    .get(id)
                    .is_some_and(|entry| entry.finished_at.is_some())
            }) else {
                return Err(Full::Gateway);
            };
            if let Some(id) = order.remove(at) {
                entries.remove(&id);
            }
        }
        entries.insert(
            request_id.to_owned(),
            Entry {
                key_id: key_id.to_owned(),
                state: State::Running,
                finished_at: None,
            },
        );
        order.push_back(request_id.to_owned());
        Ok(())
    }

    pub fn finish(&self, request_id: &str, result: Result<serde_json::Value, ApiError>) {
        let mut guard = self.lock();
        if let Some(entry) = guard.0.get_mut(request_id) {
            entry.state = State::Done(result);
            entry.finished_at = Some(Instant::now());
        }
    }

    /// Looks a call up for `key_id`; a finished result is handed over once and forgotten. Another
    /// key's request id is reported as unknown, so ids reveal nothing across tenants.
    pub fn poll(&self, request_id: &str, key_id: &str) -> Poll {
        let mut guard = self.lock();
        let (entries, order) = &mut *guard;
        self.expire(entries, order);
        match entries.get(request_id) {
            Some(entry) if entry.key_id != key_id => Poll::Unknown,
            Some(Entry {
                state: State::Running,
                ..
            }) => Poll::Running,
            Some(_) => {
                order.retain(|id| id != request_id);
                match entries.remove(request_id) {
                    Some(Entry {
                        state: State::Done(result),
                        ..
                    }) => Poll::Done(result),
                    _ => Poll::Unknown,
                }
            }
            None => Poll::Unknown,
        }
    }

    fn expire(&self, entries: &mut HashMap<String, Entry>, order: &mut VecDeque<String>) {
        let ttl = self.ttl;
        entries.retain(|_, entry| entry.finished_at.is_none_or(|at| at.elapsed() < ttl));
        order.retain(|id| entries.contains_key(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_belong_to_their_key_and_are_fetched_once() {
        let polls = LongPolls::new(Duration::from_mins(1), 10, 10);
        assert!(polls.start("r1", "key_a").is_ok());
        assert_eq!(polls.poll("r1", "key_a"), Poll::Running);
        assert_eq!(polls.poll("r1", "key_b"), Poll::Unknown);
        polls.finish("r1", Ok("done".into()));
        assert_eq!(polls.poll("r1", "key_b"), Poll::Unknown);
        assert_eq!(polls.poll("r1", "key_a"), Poll::Done(Ok("done".into())));
        assert_eq!(polls.poll("r1", "key_a"), Poll::Unknown);
    }

    #[test]
    fn memory_is_bounded_and_results_expire() {
        let polls = LongPolls::new(Duration::from_millis(0), 2, 10);
        assert!(polls.start("a", "k").is_ok());
        assert!(polls.start("b", "k").is_ok());
        assert_eq!(polls.start("c", "k"), Err(Full::Gateway), "both slots run");
        polls.finish("a", Ok(serde_json::Value::from("")));
        assert!(
            polls.start("c", "k").is_ok(),
            "an expired result makes room"
        );
        assert_eq!(polls.poll("a", "k"), Poll::Unknown);
    }

    #[test]
    fn one_key_cannot_take_every_slot() {
        let polls = LongPolls::new(Duration::from_mins(1), 10, 2);
        assert!(polls.start("a1", "greedy").is_ok());
        assert!(polls.start("a2", "greedy").is_ok());
        assert_eq!(polls.start("a3", "greedy"), Err(Full::Key));
        assert!(
            polls.start("b1", "modest").is_ok(),
            "other keys still start"
        );
        polls.finish("a1", Ok(serde_json::Value::from("x")));
        assert_eq!(
            polls.start("a3", "greedy"),
            Err(Full::Key),
            "an unfetched result still counts"
        );
        assert!(matches!(polls.poll("a1", "greedy"), Poll::Done(_)));
        assert!(
            polls.start("a3", "greedy").is_ok(),
            "fetching it frees the share"
        );
    }
}
