//! Thread-local values kept for each of several owners (a provider's HTTP client, an upstream's
//! idle connections), keyed by a token the owner holds. The gateway runs one runtime per thread,
//! and an upstream connection's I/O belongs to the runtime that opened it, so such state lives
//! with the threads; the token says whose it is and whether that owner still exists (a reloaded
//! configuration drops the old providers).

use std::sync::{Arc, Weak};

pub(crate) struct ByOwner<T> {
    slots: Vec<(Weak<()>, T)>,
}

impl<T> ByOwner<T> {
    pub(crate) const fn new() -> ByOwner<T> {
        ByOwner { slots: Vec::new() }
    }

    /// The owner's value on this thread, if it has one.
    pub(crate) fn get_mut(&mut self, owner: &Arc<()>) -> Option<&mut T> {
        let mine = Arc::as_ptr(owner);
        self.slots
            .iter_mut()
            .find(|(token, _)| token.as_ptr() == mine)
            .map(|(_, value)| value)
    }

    /// Gives the owner a value on this thread; values of owners that are gone go now.
    pub(crate) fn insert(&mut self, owner: &Arc<()>, value: T) {
        self.slots.retain(|(token, _)| token.strong_count() > 0);
        self.slots.push((Arc::downgrade(owner), value));
    }

    /// Keeps the values of living owners that `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&mut T) -> bool) {
        self.slots
            .retain_mut(|(token, value)| token.strong_count() > 0 && keep(value));
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|(_, value)| value)
    }
}
