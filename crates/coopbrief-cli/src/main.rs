//! `coopbrief`: parses the command line and runs the command.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // The token may come from a file (`COOPBRIEF_TOKEN_FILE`).
    let cli: coopbrief_cli::Cli = coopbrief_runtime::secrets::parse();
    // Held to the end of `main`: dropping it flushes the traces.
    let _telemetry = coopbrief_runtime::init_tracing("text");
    match coopbrief_cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Messages carry server text (a report's error, a status message): shown, never obeyed.
            eprintln!("error: {}", coopbrief_cli::escape(&format!("{e:#}")));
            std::process::ExitCode::from(coopbrief_cli::exit_code(&e))
        }
    }
}
