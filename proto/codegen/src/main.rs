//! `make generate` runs this: compiles `proto/proto/**/*.proto` into checked-in Rust under
//! `proto/src/generated/`, so building tracejob never needs protoc; CI regenerates and
//! fails on a diff.

use std::path::PathBuf;

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let includes = proto_dir.join("proto");
    let file = includes.join("tracejob/agent/v1/agent.proto");
    let out_dir = proto_dir.join("src/generated");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    tonic_prost_build::configure()
        .out_dir(&out_dir)
        .build_client(true)
        .build_server(true)
        .emit_rerun_if_changed(false)
        .compile_protos(&[file], &[includes])
        .context(
            "protoc failed (install it with `apt-get install protobuf-compiler`, or `make deps`)",
        )?;
    Ok(())
}
