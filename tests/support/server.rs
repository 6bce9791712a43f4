//! A team server for the console to manage: the gateway with its admin API on loopback (the code
//! `tollgate serve` runs), over a mock upstream, behind a pass-through TCP proxy the test can cut
//! (every connection dropped, new ones refused) and mend, as a network would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub const ADMIN_TOKEN: &str = "team-server-admin-token";

#[derive(serde::Deserialize)]
struct Models {
    models: Vec<tollgate_gateway::ModelConfig>,
}

pub struct TeamServer {
    pub gateway: tollgate_gateway::Gateway,
    /// Where the console connects: the proxy.
    pub url: String,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for TeamServer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TeamServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl TeamServer {
    /// A server with a `chat` model on the shared mock upstream.
    pub async fn start() -> TeamServer {
        let upstream = tollgate_testkit::MockUpstream::start_with(
            tollgate_testkit::Script::saying(&["Hello", " from", " the", " server"], (1000, 500)),
        )
        .await
        .base_url;
        let models: Models = toml::from_str(&format!(
            "[[models]]\nid = \"chat\"\nbase_url = \"{upstream}\"\nprice_as = \"anthropic.claude-v2\"\nmax_retries = 0\n"
        ))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = tollgate_gateway::ServerConfig {
            admin_token: Some(ADMIN_TOKEN.to_owned()),
            ..tollgate_gateway::ServerConfig::default()
        };
        let gateway =
            tollgate_gateway::Gateway::start(&dir.path().join("server.db"), config, &models.models)
                .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let served = listener.local_addr().unwrap();
        tokio::spawn(tollgate_gateway::serve(
            gateway.clone(),
            listener,
            std::future::pending(),
        ));
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0);
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", proxy.local_addr().unwrap());
        tokio::spawn(forward(proxy, served, Arc::clone(&up), cut.clone()));
        TeamServer {
            gateway,
            url,
            up,
            cut,
            _dir: dir,
        }
    }

    /// The network fails: open connections are dropped, new ones closed at once.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    pub fn mend(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn forward(proxy: TcpListener, to: SocketAddr, up: Arc<AtomicBool>, cut: watch::Sender<u64>) {
    loop {
        let Ok((mut client, _)) = proxy.accept().await else {
            return;
        };
        if !up.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let mut cuts = cut.subscribe();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(to).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = cuts.changed() => {}
            }
        });
    }
}
