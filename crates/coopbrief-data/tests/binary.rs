//! The `coopbrief-data` binary starts and documents its settings (and, being an integration
//! test, makes `cargo test` build the binary that the fault tests and the soak run).

#[test]
fn help_lists_the_settings_with_their_environment_variables() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coopbrief-data")).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "COOPBRIEF_LISTEN",
        "COOPBRIEF_DATABASE_URL",
        "COOPBRIEF_AMQP_URL",
        "COOPBRIEF_ARTIFACTS",
        "COOPBRIEF_AUTH",
        "COOPBRIEF_TLS_CERT",
        "COOPBRIEF_TLS_KEY",
        "healthcheck",
        "token",
    ] {
        assert!(text.contains(needle), "--help should mention {needle}:\n{text}");
    }
}

#[test]
fn a_bad_setting_is_refused_naming_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coopbrief-data"))
        .args(["--listen", "not-an-address"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}

#[test]
fn healthcheck_exits_1_when_nothing_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coopbrief-data"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "healthcheck", "--timeout", "5"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("http://127.0.0.1:{port}")), "{stderr}");
}
