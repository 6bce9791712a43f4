//! Reads the app's configuration from the repository root, where DESIGN.md keeps it.

fn main() {
    // The built UI is embedded in the binary: rebuild when it changes.
    println!("cargo:rerun-if-changed=../ui/dist");
    let attributes =
        tauri_build::Attributes::new().config_path(std::path::Path::new("../tauri.conf.json"));
    if let Err(error) = tauri_build::try_build(attributes) {
        eprintln!("tauri build failed: {error:#}");
        std::process::exit(1);
    }
}
