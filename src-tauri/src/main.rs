//! The Tollgate desktop console.

fn main() {
    if let Err(error) = tollgate_console::run() {
        eprintln!("tollgate console: {error}");
        std::process::exit(1);
    }
}
