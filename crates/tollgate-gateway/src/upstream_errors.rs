//! Upstream failures as a tenant may see them. What the upstream said goes to the operator's log
//! whole; the tenant gets the status and a safe message: the upstream's words only where they are
//! about the tenant's own request (a refused body, an unknown model, throttling), and even then
//! without URLs or anything shaped like a credential. An upstream that echoes the gateway's key
//! (OpenAI's "Incorrect API key provided: sk-...") or its internal address never reaches a tenant.

use tollgate_providers::ProviderError;

/// The message a tenant gets for `error`; the whole error is logged for the operator.
pub fn tenant_message(error: &ProviderError) -> String {
    tracing::warn!(target: "tollgate::upstream", error = %error, "upstream call failed");
    match error {
        ProviderError::BadRequest(message) => {
            format!("the model rejected the request: {}", redact(message))
        }
        ProviderError::NotFound(message) => {
            format!("the upstream does not know this model: {}", redact(message))
        }
        ProviderError::RateLimited { message, .. } => {
            format!("the upstream is throttling: {}", redact(message))
        }
        ProviderError::Unauthorized(_) => {
            "the upstream refused the gateway's own credentials for this model; the gateway's operator can see why in its log".to_owned()
        }
        ProviderError::Credentials(_) => {
            "the gateway has no usable credentials for this model's upstream; the gateway's operator can see why in its log".to_owned()
        }
        ProviderError::Timeout(_) => "the upstream did not answer in time".to_owned(),
        ProviderError::Upstream { status, .. } => {
            format!("the upstream failed with status {status}")
        }
        ProviderError::Unavailable(_) => "the upstream cannot be reached".to_owned(),
        ProviderError::Protocol(_) => "the upstream answered something unexpected".to_owned(),
    }
}

/// `text` without URLs and credential-shaped words.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_bearer = false;
    for (index, piece) in text.split(' ').enumerate() {
        if index > 0 {
            out.push(' ');
        }
        let word = piece.trim_matches(|c: char| {
            matches!(
                c,
                '"' | '\'' | ',' | '.' | ';' | ':' | '(' | ')' | '[' | ']' | '<' | '>'
            )
        });
        let hidden = if after_bearer && !word.is_empty() {
            Some("[redacted]")
        } else if word.contains("://") {
            Some("[url]")
        } else if looks_like_secret(word) {
            Some("[redacted]")
        } else {
            None
        };
        after_bearer = word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("key:");
        match hidden {
            Some(mask) => out.push_str(&piece.replace(word, mask)),
            None => out.push_str(piece),
        }
    }
    out
}

/// API keys (`sk-...`, `tg_...`, AWS access key ids) and long opaque tokens.
fn looks_like_secret(word: &str) -> bool {
    let opaque = |text: &str| {
        text.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '='))
    };
    if word.len() >= 12 && opaque(word) {
        let prefixed = [
            "sk-", "sk_", "tg_", "AKIA", "ASIA", "xox", "ghp_", "hf_", "key-",
        ]
        .iter()
        .any(|prefix| word.starts_with(prefix));
        if prefixed {
            return true;
        }
    }
    // A long run mixing letters and digits is a token, not a word of prose.
    word.len() >= 24
        && opaque(word)
        && word.chars().any(|c| c.is_ascii_digit())
        && word.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_addresses_are_taken_out_and_prose_stays() {
        let openai = "Incorrect API key provided: sk-test-SECRET1234567890abcd. You can find your API key at https://platform.openai.com/account/api-keys.";
        let cleaned = redact(openai);
        assert!(!cleaned.contains("SECRET"), "{cleaned}");
        assert!(!cleaned.contains("platform.openai.com"), "{cleaned}");
        assert!(
            cleaned.starts_with("Incorrect API key provided: [redacted]."),
            "{cleaned}"
        );
        let header =
            redact("upstream saw Authorization: Bearer abc.def.ghi and AKIAIOSFODNN7EXAMPLE");
        assert!(
            !header.contains("abc.def.ghi") && !header.contains("AKIAIOSFODNN7EXAMPLE"),
            "{header}"
        );
        let prose = "Malformed input request: extraneous key [bogus] is not permitted";
        assert_eq!(redact(prose), prose);
        assert_eq!(
            redact("model anthropic.claude-3-haiku-20240307-v1:0 not found"),
            "model anthropic.claude-3-haiku-20240307-v1:0 not found",
            "model ids stay"
        );
    }

    #[test]
    fn bodies_of_failures_the_tenant_did_not_cause_are_not_passed_on() {
        let echoed = ProviderError::Upstream {
            status: 500,
            message: "internal error calling http://10.0.0.7:8000/v1 with key sk-live-abcdef123456"
                .to_owned(),
        };
        assert_eq!(
            tenant_message(&echoed),
            "the upstream failed with status 500"
        );
        let refused =
            ProviderError::Unauthorized("Incorrect API key provided: sk-proj-xyz".to_owned());
        assert!(!tenant_message(&refused).contains("sk-proj"));
        let timeout = ProviderError::Timeout(
            "error sending request for url (http://10.0.0.7/v1/chat)".to_owned(),
        );
        assert_eq!(
            tenant_message(&timeout),
            "the upstream did not answer in time"
        );
    }
}
