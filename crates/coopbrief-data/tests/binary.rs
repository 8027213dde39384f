//! The `coopbrief-data` binary starts and documents its settings (and, being an integration
//! test, makes `cargo test` build the binary that the fault tests and the soak run).

#[test]
fn help_lists_the_settings_with_their_environment_variables() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coopbrief-data")).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["COOPBRIEF_LISTEN", "COOPBRIEF_DATABASE_URL", "COOPBRIEF_AMQP_URL", "COOPBRIEF_ARTIFACTS"] {
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
