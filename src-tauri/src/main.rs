//! The Tollgate desktop console.

fn main() {
    {
        use tracing_subscriber::filter::LevelFilter;
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        // Tollgate's own info lines; the libraries under it (the AWS SDK, Tauri) only warn.
        let levels = tracing_subscriber::filter::Targets::new()
            .with_default(LevelFilter::WARN)
            .with_target("tollgate", LevelFilter::INFO);
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .finish()
            .with(levels)
            .init();
    }
    if let Err(error) = tollgate_console::run() {
        eprintln!("tollgate console: {error}");
        std::process::exit(1);
    }
}
