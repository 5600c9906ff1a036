//! Compiles `bpf/floor.bpf.c` (the empty-program floor) with the same clang line as
//! the engine's programs, against the engine's checked-in `vmlinux.h`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let source = manifest_dir.join("bpf/floor.bpf.c");
    let include = manifest_dir.join("../ebpf/include");
    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-env-changed=CLANG");
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH")?.as_str() {
        "x86_64" => "x86",
        "aarch64" => "arm64",
        other => bail!("eBPF programs are not built for target architecture {other}"),
    };
    let clang = std::env::var("CLANG").unwrap_or_else(|_| {
        let found = ["clang-19", "clang"].into_iter().find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        });
        found.unwrap_or("clang-19").to_owned()
    });
    let status = Command::new(&clang)
        .args([
            "-g", "-O2", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror",
        ])
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .arg("-I")
        .arg(&include)
        .arg("-c")
        .arg(&source)
        .arg("-o")
        .arg(out_dir.join("floor.bpf.o"))
        .status()
        .with_context(|| format!("failed to start {clang} (run `make deps`)"))?;
    if !status.success() {
        bail!("{clang} failed on {} with {status}", source.display());
    }
    Ok(())
}
