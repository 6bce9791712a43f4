//! An HTTP client per thread. A pooled connection's I/O is driven by a task on the runtime that
//! opened it; with the gateway's one runtime per thread, one shared pool would send most answers
//! through another thread's runtime and wake that thread for them. A client per thread keeps each
//! upstream connection on the thread whose requests use it.

use std::cell::RefCell;
use std::sync::Arc;

use crate::by_owner::ByOwner;

thread_local! {
    /// This thread's clients, by the token of the [`ClientPerThread`] each belongs to.
    static CLIENTS: RefCell<ByOwner<reqwest::Client>> = const { RefCell::new(ByOwner::new()) };
}

pub(crate) struct ClientPerThread {
    /// Identifies this set's clients; once dropped, threads forget them.
    token: Arc<()>,
    build: Box<dyn Fn() -> reqwest::Result<reqwest::Client> + Send + Sync>,
    /// Built up front, so a configuration that cannot build fails at start; also the client of
    /// any thread whose own could not be built.
    first: reqwest::Client,
}

impl std::fmt::Debug for ClientPerThread {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClientPerThread")
            .finish_non_exhaustive()
    }
}

impl ClientPerThread {
    pub(crate) fn new(
        build: impl Fn() -> reqwest::Result<reqwest::Client> + Send + Sync + 'static,
    ) -> reqwest::Result<ClientPerThread> {
        Ok(ClientPerThread {
            token: Arc::new(()),
            first: build()?,
            build: Box::new(build),
        })
    }

    /// This thread's client (a cheap handle onto its pool).
    pub(crate) fn get(&self) -> reqwest::Client {
        CLIENTS.with_borrow_mut(|clients| {
            if let Some(client) = clients.get_mut(&self.token) {
                return client.clone();
            }
            let client = (self.build)().unwrap_or_else(|_| self.first.clone());
            clients.insert(&self.token, client.clone());
            client
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> ClientPerThread {
        ClientPerThread::new(|| reqwest::Client::builder().build()).unwrap()
    }

    #[test]
    fn a_thread_keeps_its_client_and_other_threads_get_their_own() {
        // reqwest clients cannot be compared, so count the builds instead.
        let built = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counting = {
            let built = built.clone();
            Arc::new(
                ClientPerThread::new(move || {
                    built.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    reqwest::Client::builder().build()
                })
                .unwrap(),
            )
        };
        assert_eq!(
            built.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the first client"
        );
        counting.get();
        counting.get();
        assert_eq!(
            built.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "one for this thread"
        );
        let other = counting.clone();
        std::thread::spawn(move || {
            other.get();
            other.get();
        })
        .join()
        .unwrap();
        assert_eq!(
            built.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "one for the other thread"
        );
    }

    #[test]
    fn a_dropped_set_is_forgotten_when_the_thread_needs_a_new_client() {
        let old = set();
        old.get();
        let count = || CLIENTS.with_borrow(|clients| clients.values().count());
        let before = count();
        drop(old);
        let new = set();
        new.get();
        assert_eq!(
            count(),
            before,
            "the dropped set's client was replaced, not added to"
        );
    }
}
