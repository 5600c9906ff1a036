//! The manifests in examples/ are what users apply first: each must parse and pass the
//! same validation the operator and `tracejob run` apply, and every tool must have one.

use std::collections::BTreeSet;
use std::path::PathBuf;

use tracejob_api::{Tool, parse_manifest};

fn examples() -> Vec<(PathBuf, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (path, text)
        })
        .collect()
}

#[test]
fn every_example_is_a_valid_tracejob() {
    let examples = examples();
    assert!(!examples.is_empty(), "no examples found");
    for (path, text) in &examples {
        if let Err(error) = parse_manifest(text) {
            panic!("{} does not validate: {error}", path.display());
        }
    }
}

#[test]
fn every_tool_has_an_example() {
    let covered: BTreeSet<&str> = examples()
        .iter()
        .map(|(path, text)| {
            parse_manifest(text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .spec
                .tool
                .name()
        })
        .collect();
    let missing: Vec<&str> = Tool::ALL
        .iter()
        .map(|tool| tool.name())
        .filter(|name| !covered.contains(name))
        .collect();
    assert!(missing.is_empty(), "tools without an example: {missing:?}");
}

#[test]
fn every_example_explains_itself_in_a_leading_comment() {
    for (path, text) in examples() {
        let comment_lines = text.lines().take_while(|l| l.starts_with('#')).count();
        assert!(
            comment_lines >= 3,
            "{} needs a comment at the top saying what it traces, what to expect and how to read the result",
            path.display()
        );
        assert!(
            text.contains("kubectl"),
            "{} should say how to apply it or read its result with kubectl",
            path.display()
        );
    }
}
