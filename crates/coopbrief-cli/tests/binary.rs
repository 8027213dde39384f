//! The `coopbrief` binary documents its connection settings (and, being an integration test,
//! makes `cargo test` build the binary that tests/auth.rs runs).

#[test]
fn help_lists_the_connection_settings_with_their_environment_variables() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coopbrief")).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["COOPBRIEF_ENDPOINT", "COOPBRIEF_TOKEN", "COOPBRIEF_CA_FILE", "token", "audit"] {
        assert!(text.contains(needle), "--help should mention {needle}:\n{text}");
    }
}

#[test]
fn the_token_is_never_echoed_by_help() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coopbrief"))
        .arg("--help")
        .env("COOPBRIEF_TOKEN", "cb_supersecret")
        .output()
        .expect("runs");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("supersecret"));
}
