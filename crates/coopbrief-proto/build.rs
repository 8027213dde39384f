//! Compiles `proto/coopbrief/v1/*.proto` with protox (no system `protoc`) and generates tonic code.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "coopbrief/v1/cooperation.proto",
        "coopbrief/v1/report.proto",
        "coopbrief/v1/diagnostics.proto",
        "coopbrief/v1/schedule.proto",
        "coopbrief/v1/access.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("coopbrief_descriptor.bin"), fds.encode_to_vec())?;
    // NotifyTarget carries a webhook secret: its Debug (in src/lib.rs) hides it.
    tonic_prost_build::configure().skip_debug([".coopbrief.v1.NotifyTarget"]).compile_fds(fds)?;
    Ok(())
}
