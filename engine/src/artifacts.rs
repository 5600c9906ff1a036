//! Files a job's result comes with besides its summary: for `profile`, the folded
//! stacks and an interactive flame graph. `tracejob run --output DIR` writes them;
//! the storage writer uploads the same bytes.

use inferno::flamegraph::{self, Options, color};

use crate::summary::{FoldedStack, Summary, ToolSummary};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// A plain file name, e.g. `profile.svg`.
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The artifacts a result comes with (none for most tools).
pub fn of(summary: &Summary) -> Vec<Artifact> {
    match &summary.details {
        ToolSummary::Profile { stacks, .. } => vec![
            Artifact {
                name: "profile.folded".into(),
                bytes: folded(stacks).into_bytes(),
            },
            Artifact {
                name: "profile.svg".into(),
                bytes: flame_graph(stacks, &format!("{} on-CPU profile", summary.tool)),
            },
        ],
        _ => Vec::new(),
    }
}

/// One `stack count` line per stack.
pub fn folded(stacks: &[FoldedStack]) -> String {
    stacks
        .iter()
        .map(|s| format!("{} {}\n", s.stack, s.count))
        .collect()
}

/// An interactive SVG flame graph (inferno, the Rust port of flamegraph.pl).
pub fn flame_graph(stacks: &[FoldedStack], title: &str) -> Vec<u8> {
    let lines = folded(stacks);
    let mut options = Options::default();
    options.title = title.to_owned();
    options.count_name = "samples".to_owned();
    // Kernel frames (`_[k]`) orange, C++/Rust `::` names yellow, the rest red.
    options.colors = color::Palette::Multi(color::MultiPalette::Perl);
    let mut svg = Vec::new();
    if lines.is_empty() {
        // inferno refuses empty input; an empty profile still gets a valid picture.
        options.subtitle = Some("no samples".to_owned());
        let _ = flamegraph::from_lines(&mut options, ["no-samples 0"], &mut svg);
        return svg;
    }
    if let Err(error) = flamegraph::from_lines(&mut options, lines.lines(), &mut svg) {
        // Writing to a Vec cannot fail; a malformed line is the only error left.
        svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\"><text>{error}</text></svg>")
            .into_bytes();
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flame_graph_names_every_function_of_the_stacks() {
        let stacks = [FoldedStack {
            stack: "app;main;spin_here".into(),
            count: 42,
        }];
        let svg = String::from_utf8(flame_graph(&stacks, "test")).unwrap();
        assert!(svg.starts_with("<?xml"), "{svg}");
        assert!(svg.contains("spin_here (42 samples"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(folded(&stacks), "app;main;spin_here 42\n");
    }

    #[test]
    fn an_empty_profile_still_draws_a_valid_svg() {
        let svg = String::from_utf8(flame_graph(&[], "test")).unwrap();
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
    }
}
