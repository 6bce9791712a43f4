//! The mock's knobs, read from the model name a request carries, `+`-separated, so one mock
//! serves every behaviour at once and a test picks one by naming its model
//! (`upstream_model = "upstream-chat+delay300+no-usage"`). Unknown parts are ignored, so any
//! plain name (`chat`, `gpt-test`) is the well-behaved default.
//!
//! - `upstream-slow`: 40 words streamed 15 ms apart; `long`: 2,000 words; `words<N>`: N words;
//!   `gap<ms>`: a pause before each streamed chunk after the first.
//! - `delay<ms>`: wait before answering; `silent`: answer nothing (streams: one chunk, then
//!   nothing with the connection held open).
//! - `no-usage`: no usage in the answer; `absurd`: token counts near `u64::MAX`; `honest`:
//!   output tokens are the `max_tokens` asked for (default 500), not the script's.
//! - `upstream-broken`: a 400; `flaky`: 503 for the mock's first two chat calls; `throttled`: 429
//!   with `retry-after: 0`; `echo-401`, `echo-400`, `echo-500`: errors that echo
//!   [`UPSTREAM_KEY`] and an internal URL, as careless upstreams and proxies do.
//! - `pieces<N>`: a stream delivered in N-byte pieces, so events straddle reads; `whole`: a
//!   stream sent as one body with a content-length, not chunked.

/// The key an echoing upstream leaks in its errors.
pub const UPSTREAM_KEY: &str = "sk-gw-SECRETKEY1234567890";

/// What one request asks of the mock.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    pub words: Option<usize>,
    pub gap_ms: u64,
    pub delay_ms: u64,
    pub silent: bool,
    pub no_usage: bool,
    pub absurd: bool,
    pub honest: bool,
    pub broken: bool,
    pub flaky: bool,
    pub throttled: bool,
    pub echo: Option<u16>,
    pub pieces: Option<usize>,
    pub whole: bool,
}

impl Knobs {
    /// The knobs named in `model`.
    pub fn of(model: &str) -> Knobs {
        let mut knobs = Knobs::default();
        for part in model.split('+') {
            match part {
                "upstream-slow" => {
                    knobs.words = Some(40);
                    knobs.gap_ms = 15;
                }
                "long" => knobs.words = Some(2_000),
                "upstream-broken" => knobs.broken = true,
                "flaky" => knobs.flaky = true,
                "throttled" => knobs.throttled = true,
                "silent" => knobs.silent = true,
                "no-usage" => knobs.no_usage = true,
                "absurd" => knobs.absurd = true,
                "honest" => knobs.honest = true,
                "whole" => knobs.whole = true,
                "echo-401" => knobs.echo = Some(401),
                "echo-400" => knobs.echo = Some(400),
                "echo-500" => knobs.echo = Some(500),
                other => knobs.set_numbered(other),
            }
        }
        knobs
    }

    fn set_numbered(&mut self, part: &str) {
        let number = |prefix: &str| {
            part.strip_prefix(prefix)
                .and_then(|n| n.parse::<u64>().ok())
        };
        if let Some(ms) = number("delay") {
            self.delay_ms = ms;
        } else if let Some(ms) = number("gap") {
            self.gap_ms = ms;
        } else if let Some(count) = number("words") {
            self.words = Some(usize::try_from(count).unwrap());
        } else if let Some(bytes) = number("pieces") {
            self.pieces = Some(usize::try_from(bytes).unwrap().max(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Knobs;

    #[test]
    fn knobs_combine_and_plain_names_ask_for_nothing() {
        assert_eq!(Knobs::of("chat"), Knobs::default());
        let knobs = Knobs::of("upstream-chat+delay300+no-usage+pieces7+echo-401");
        assert_eq!(knobs.delay_ms, 300);
        assert!(knobs.no_usage);
        assert_eq!(knobs.pieces, Some(7));
        assert_eq!(knobs.echo, Some(401));
        assert!(!knobs.silent);
        let slow = Knobs::of("upstream-slow+words5");
        assert_eq!((slow.words, slow.gap_ms), (Some(5), 15));
    }
}
