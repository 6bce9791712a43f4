//! Peers that stall a real listener: a client that sends nothing, one that dribbles its headers,
//! an idle keep-alive connection, and a flood of connections past the cap.

use crate::common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn serving(
    server: tollgate_gateway::ServerConfig,
) -> (common::TestGateway, std::net::SocketAddr) {
    let test = common::gateway_with(tollgate_core::Limits::default(), server).await;
    let address = test.listen().await;
    (test, address)
}

/// Reads until the peer closes; the bytes read, or `None` when it is still open after `wait`.
async fn read_to_close(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    tokio::time::timeout(wait, stream.read_to_end(&mut bytes))
        .await
        .ok()?
        .ok()?;
    Some(bytes)
}

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";

#[tokio::test]
async fn silent_dribbling_and_idle_clients_are_let_go_after_the_header_timeout() {
    let (_test, address) = serving(tollgate_gateway::ServerConfig {
        header_read_timeout_secs: Some(1),
        ..tollgate_gateway::ServerConfig::default()
    })
    .await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(address).await.unwrap();
    let mut dribbling = TcpStream::connect(address).await.unwrap();
    dribbling
        .write_all(b"POST /invoke_model HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(address).await.unwrap();
    idle.write_all(HEALTH).await.unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    for (name, stream) in [
        ("silent", &mut silent),
        ("dribbling", &mut dribbling),
        ("idle", &mut idle),
    ] {
        assert!(
            read_to_close(stream, Duration::from_secs(5))
                .await
                .is_some(),
            "the {name} connection is still open"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connections_past_the_cap_get_503_and_room_frees_as_they_close() {
    let (_test, address) = serving(tollgate_gateway::ServerConfig {
        max_connections: Some(3),
        ..tollgate_gateway::ServerConfig::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(HEALTH).await.unwrap();
        let mut answer = [0u8; 12];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200");
        held.push(stream);
    }
    let mut over = TcpStream::connect(address).await.unwrap();
    let refused = read_to_close(&mut over, Duration::from_secs(5))
        .await
        .expect("closed");
    let text = String::from_utf8_lossy(&refused);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("Service Unavailable"), "{text}");
    drop(held.pop());
    // The freed slot is counted back once the server sees the close.
    let mut served = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(HEALTH).await.unwrap();
        let mut answer = [0u8; 12];
        if stream.read_exact(&mut answer).await.is_ok() && &answer == b"HTTP/1.1 200" {
            served = Some(stream);
            break;
        }
    }
    assert!(
        served.is_some(),
        "a slot freed by a closed connection is reused"
    );
}

#[tokio::test]
async fn an_oversized_request_head_gets_431() {
    let (_test, address) = serving(tollgate_gateway::ServerConfig {
        max_header_bytes: Some(16 << 10),
        ..tollgate_gateway::ServerConfig::default()
    })
    .await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    let padding = "a".repeat(64 << 10);
    let request =
        format!("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-padding: {padding}\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let answer = read_to_close(&mut stream, Duration::from_secs(5))
        .await
        .expect("closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    // A request of ordinary size is still served.
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(HEALTH).await.unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    // The cap is on the head only: a 2 MB body still arrives whole (and is refused for its
    // missing key, not its size).
    let body = serde_json::json!({"model": "chat-model", "messages": [{"role": "user", "content": "x".repeat(2 << 20)}]});
    let answer = reqwest::Client::new()
        .post(format!("http://{address}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_cut_off() {
    let (test, address) = serving(tollgate_gateway::ServerConfig {
        body_read_timeout_secs: Some(1),
        ..tollgate_gateway::ServerConfig::default()
    })
    .await;
    for path in ["/v1/chat/completions", "/invoke_model?model_id=chat-model"] {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: {}\r\nteam_id: alpha\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"mod",
            test.secret
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // ...and the other 995 bytes never come.
        let answer = read_to_close(&mut stream, Duration::from_secs(5))
            .await
            .expect("cut off, not held");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 400"), "{path}: {text}");
        assert!(text.contains("did not arrive within 1 s"), "{path}: {text}");
    }
    assert!(test.calls().is_empty(), "no call was made");
}

/// Every answer says how long an idle connection is kept, a second short of the header timeout,
/// so pools that honour the hint retire a connection before the gateway closes it.
#[tokio::test]
async fn answers_tell_clients_how_long_an_idle_connection_is_kept() {
    let (_test, address) = serving(tollgate_gateway::ServerConfig {
        header_read_timeout_secs: Some(30),
        ..tollgate_gateway::ServerConfig::default()
    })
    .await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(
        answer.contains("\r\nkeep-alive: timeout=29\r\n"),
        "{answer}"
    );
}
