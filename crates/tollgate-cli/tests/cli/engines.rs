//! One engine per database: a second `tollgate serve` on a database already served would enforce
//! limits of its own (every tenant let through twice) and share the journal, so it is refused
//! with a message naming the first; the CLI's other commands work beside it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

#[test]
fn a_second_serve_on_a_served_database_is_refused_naming_the_first() {
    let (cli, port, key) = common::served_tenant();
    let first = cli.serve(port);
    common::wait_until_serving(port);
    let first_pid = first.0.id();

    // The second, on another port, must stop by itself and say who serves the database.
    let other_port = common::free_port();
    let mut second = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--listen", &format!("127.0.0.1:{other_port}")])
        .env("TOLLGATE_DATA_DIR", cli.data_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = second.kill();
            panic!("a second tollgate serve on a served database kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "is already served by tollgate serve (pid {first_pid}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("the tollgate CLI works beside it"),
        "{stderr}"
    );

    // The first kept serving, and the CLI works beside it.
    assert_eq!(common::chat_status(port, &key), 200);
    let tenants = cli.run(&["--json", "tenant", "list"]).ok().json();
    assert_eq!(tenants.as_array().unwrap().len(), 1, "{tenants}");
    cli.run(&["tenant", "create", "beta"]).ok();

    // Once the first has stopped, a serve starts on the database again.
    drop(first);
    let again = cli.serve(port);
    common::wait_until_serving(port);
    assert_eq!(common::chat_status(port, &key), 200);
    drop(again);
}
