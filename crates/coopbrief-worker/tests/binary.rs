//! The `coopbrief-worker` binary starts and documents its settings (and, being an integration
//! test, makes `cargo test` build the binary that the fault tests and the soak run).

#[test]
fn help_lists_the_settings_with_their_environment_variables() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coopbrief-worker")).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["COOPBRIEF_DATA_ENDPOINT", "COOPBRIEF_AMQP_URL", "COOPBRIEF_PREFETCH", "COOPBRIEF_MAX_ATTEMPTS"] {
        assert!(text.contains(needle), "--help should mention {needle}:\n{text}");
    }
}
