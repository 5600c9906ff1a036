//! Wire types stop at the agent's gRPC edge: the job registry, its state and errors, the
//! origins and the cgroup resolution work in the agent's and the API's types.

use std::path::{Path, PathBuf};

/// The files that speak `tracejob.agent.v1` or gRPC: the service, its conversions and
/// request checks, the stream buffer (it holds encoded messages to bound their bytes), the
/// capabilities answer, the TLS set-up and client identity check, and the binary.
const EDGE: [&str; 8] = [
    "capabilities.rs",
    "convert",
    "identity.rs",
    "main.rs",
    "ring.rs",
    "service.rs",
    "tls.rs",
    "validate.rs",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_grpc_edge_names_protobuf_or_grpc_types() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let inside: Vec<String> = files
        .iter()
        .filter(|path| {
            let relative = path.strip_prefix(&src).expect("under src");
            let first = relative.components().next().expect("a name");
            let name = first.as_os_str().to_string_lossy();
            let name = name.trim_end_matches(".rs");
            !EDGE.iter().any(|edge| edge.trim_end_matches(".rs") == name)
        })
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("readable");
            ["tracejob_proto", "prost::", "tonic::", "use tonic"]
                .iter()
                .any(|wire| text.contains(wire))
        })
        .map(|path| {
            path.strip_prefix(&src)
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        inside.is_empty(),
        "protobuf or gRPC types outside the gRPC edge: {inside:?}"
    );
    assert!(
        files.iter().any(|p| p.ends_with("jobs.rs")),
        "the registry was looked at"
    );
}
