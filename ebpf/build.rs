//! Compiles every `programs/*.bpf.c` into a CO-RE object with BTF, into OUT_DIR.
//! clang is found through $CLANG, else `clang-19`, else `clang` (`make deps` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=programs");
    println!("cargo:rerun-if-changed=include");
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = find_tool("CLANG", &["clang-19", "clang"]).context(
        "no clang found: run `make deps` (installs clang-19 and libbpf-dev) or set CLANG",
    )?;
    let strip = find_tool("LLVM_STRIP", &["llvm-strip-19", "llvm-strip"]);
    // Every `programs/*.bpf.c` and `programs/testing/*.bpf.c`, named by its path below programs/.
    for program in program_names(&manifest_dir.join("programs"))? {
        let source = manifest_dir
            .join("programs")
            .join(format!("{program}.bpf.c"));
        let object = out_dir.join(format!("{}.bpf.o", program.replace('/', "_")));
        compile(&clang, &manifest_dir.join("include"), &source, &object)?;
        // Drop DWARF but keep BTF: the object shrinks about 20x and CO-RE still works.
        if let Some(strip) = &strip {
            run(Command::new(strip).arg("-g").arg(&object))?;
        }
    }
    Ok(())
}

fn program_names(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for (subdir, prefix) in [(dir.to_owned(), ""), (dir.join("testing"), "testing/")] {
        for entry in
            std::fs::read_dir(&subdir).with_context(|| format!("read {}", subdir.display()))?
        {
            let file_name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(stem) = file_name.strip_suffix(".bpf.c") {
                names.push(format!("{prefix}{stem}"));
            }
        }
    }
    names.sort();
    Ok(names)
}

fn compile(clang: &str, include: &Path, source: &Path, object: &Path) -> anyhow::Result<()> {
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH")?.as_str() {
        "x86_64" => "x86",
        "aarch64" => "arm64",
        other => bail!("eBPF programs are not built for target architecture {other}"),
    };
    run(Command::new(clang)
        .args([
            "-g", "-O2", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror",
        ])
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .arg("-I")
        .arg(include)
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(object))
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("failed to start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

fn find_tool(env: &str, candidates: &[&str]) -> Option<String> {
    if let Ok(path) = std::env::var(env) {
        return Some(path);
    }
    candidates
        .iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .map(|name| (*name).to_owned())
}
