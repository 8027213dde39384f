//! `coopbrief`: parses the command line and runs the command.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = coopbrief_cli::Cli::parse();
    // Held to the end of `main`: dropping it flushes the traces.
    let _telemetry = coopbrief_runtime::init_tracing("text");
    match coopbrief_cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Messages carry server text (a report's error, a status message): shown, never obeyed.
            eprintln!("error: {}", coopbrief_cli::escape(&format!("{e:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}
