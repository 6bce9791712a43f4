//! `image_url` parts that link an image rather than carry it: fetched, when the server's
//! `image_url_hosts` allows the host, and put back into the body as data: URLs, so the rest of the
//! gateway sees one kind of image. Nothing is fetched for any other host, a redirect, a non-image
//! or a file over the cap.

use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::error::ApiError;

/// Converse's own limit for one image.
const MAX_IMAGE_BYTES: usize = 3_750_000;
const TIMEOUT: Duration = Duration::from_secs(10);

/// The body with each allowed image link replaced by its data: URL; the body as it was when it
/// links none (or fetching is off).
pub async fn inline(body: bytes::Bytes, allowed: &[String]) -> Result<bytes::Bytes, ApiError> {
    if allowed.is_empty() || !contains(&body, b"\"image_url\"") || !contains(&body, b"http") {
        return Ok(body);
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(&body) else {
        return Ok(body);
    };
    let mut links = Vec::new();
    if let Some(messages) = value.get_mut("messages").and_then(Value::as_array_mut) {
        for message in messages {
            for part in message
                .get_mut("content")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(url) = part.pointer_mut("/image_url/url")
                    && url.as_str().is_some_and(|url| url.starts_with("http"))
                {
                    links.push(url);
                }
            }
        }
    }
    if links.is_empty() {
        return Ok(body);
    }
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| ApiError::internal(format!("cannot fetch images: {error}")))?;
    for url in links {
        let link = url.as_str().unwrap_or_default().to_owned();
        *url = Value::from(fetch(&client, &link, allowed).await?);
    }
    serde_json::to_vec(&value)
        .map(bytes::Bytes::from)
        .map_err(|error| ApiError::internal(format!("cannot rewrite the body: {error}")))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Whether `url` is on an allowed origin: an `https://` URL of a listed host, or a URL under a
/// listed `scheme://host[:port]`.
fn allowed_origin(url: &reqwest::Url, allowed: &[String]) -> bool {
    let host = url.host_str().unwrap_or_default();
    let origin = url.origin().ascii_serialization();
    allowed.iter().any(|entry| {
        if entry.contains("://") {
            entry.trim_end_matches('/') == origin
        } else {
            url.scheme() == "https" && entry.eq_ignore_ascii_case(host) && url.port().is_none()
        }
    })
}

async fn fetch(
    client: &reqwest::Client,
    link: &str,
    allowed: &[String],
) -> Result<String, ApiError> {
    let refuse = |why: String| ApiError::bad_request(format!("image_url {link}: {why}"));
    let url = reqwest::Url::parse(link).map_err(|error| refuse(error.to_string()))?;
    if !allowed_origin(&url, allowed) {
        return Err(refuse(
            "this gateway fetches images only from the hosts in [server] image_url_hosts; send a data: URL".to_owned(),
        ));
    }
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|error| refuse(format!("cannot fetch it: {error}")))?;
    if !response.status().is_success() {
        return Err(refuse(format!("the host answered {}", response.status())));
    }
    let mime = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !mime.starts_with("image/") {
        return Err(refuse(format!("it is not an image ({mime})")));
    }
    if response
        .content_length()
        .is_some_and(|length| length > MAX_IMAGE_BYTES as u64)
    {
        return Err(refuse(
            "it is larger than the 3.75 MB the model takes".to_owned(),
        ));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| refuse(format!("cannot read it: {error}")))?
    {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_IMAGE_BYTES {
            return Err(refuse(
                "it is larger than the 3.75 MB the model takes".to_owned(),
            ));
        }
    }
    Ok(format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::allowed_origin;

    #[test]
    fn only_listed_origins_are_fetched() {
        let allowed = [
            "images.example.com".to_owned(),
            "http://127.0.0.1:9000".to_owned(),
        ];
        let url = |text: &str| reqwest::Url::parse(text).unwrap();
        assert!(allowed_origin(
            &url("https://images.example.com/a.png"),
            &allowed
        ));
        assert!(
            !allowed_origin(&url("http://images.example.com/a.png"), &allowed),
            "https only"
        );
        assert!(!allowed_origin(
            &url("https://images.example.com:8443/a.png"),
            &allowed
        ));
        assert!(!allowed_origin(
            &url("https://evil.example.com/a.png"),
            &allowed
        ));
        assert!(allowed_origin(
            &url("http://127.0.0.1:9000/x.png"),
            &allowed
        ));
        assert!(!allowed_origin(
            &url("http://127.0.0.1:9001/x.png"),
            &allowed
        ));
        assert!(!allowed_origin(
            &url("http://169.254.169.254/latest"),
            &allowed
        ));
    }
}
