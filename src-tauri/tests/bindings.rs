//! `ui/src/bindings.ts` is generated from the commands; this keeps it in step with them.

#[test]
fn the_ui_bindings_match_the_commands() {
    let generated = tollgate_console::bindings().unwrap();
    assert!(
        generated.contains("async createTenant(workspace: string, form: TenantForm)"),
        "{generated}"
    );
    assert!(
        generated.contains("playgroundToken"),
        "the playground event is typed"
    );
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/src/bindings.ts");
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "ui/src/bindings.ts is not what the commands generate: run\n  UPDATE_BINDINGS=1 cargo test -p tollgate-console --test bindings"
    );
}
