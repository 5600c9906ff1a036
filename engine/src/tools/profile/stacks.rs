//! Symbolised stack samples into folded stacks (Brendan Gregg's `comm;frame;frame count`,
//! root first) and the top functions by self and total samples.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::summary::{FoldedStack, FunctionRow};

/// Kernel frames carry this suffix in folded stacks, as `stackcollapse-perf --kernel`
/// writes them; flame graphs colour them apart.
pub const KERNEL_SUFFIX: &str = "_[k]";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    pub name: String,
    pub kernel: bool,
}

/// Identical stacks of one command, with how often they were sampled.
#[derive(Clone, Debug)]
pub struct StackSample {
    pub comm: String,
    /// Outermost caller first, the sampled instruction's function last.
    pub frames: Vec<Frame>,
    pub count: u64,
}

/// Folded stacks, identical ones merged, most sampled first.
pub fn fold(samples: &[StackSample]) -> Vec<FoldedStack> {
    let mut merged: BTreeMap<String, u64> = BTreeMap::new();
    for sample in samples {
        let mut line = clean(&sample.comm);
        for frame in &sample.frames {
            line.push(';');
            line.push_str(&clean(&frame.name));
            if frame.kernel {
                line.push_str(KERNEL_SUFFIX);
            }
        }
        *merged.entry(line).or_default() += sample.count;
    }
    let mut stacks: Vec<FoldedStack> = merged
        .into_iter()
        .map(|(stack, count)| FoldedStack { stack, count })
        .collect();
    stacks.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.stack.cmp(&b.stack)));
    stacks
}

/// Functions by samples in which they were running (self) and on the stack at all
/// (total, a recursive function counted once per sample); most self samples first.
pub fn top_functions(samples: &[StackSample], limit: usize) -> Vec<FunctionRow> {
    let mut rows: HashMap<&Frame, (u64, u64)> = HashMap::new();
    for sample in samples {
        if let Some(leaf) = sample.frames.last() {
            rows.entry(leaf).or_default().0 += sample.count;
        }
        let distinct: HashSet<&Frame> = sample.frames.iter().collect();
        for frame in distinct {
            rows.entry(frame).or_default().1 += sample.count;
        }
    }
    let mut rows: Vec<FunctionRow> = rows
        .into_iter()
        .map(|(frame, (self_samples, total_samples))| FunctionRow {
            function: frame.name.clone(),
            kernel: frame.kernel,
            self_samples,
            total_samples,
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.self_samples, b.total_samples)
            .cmp(&(a.self_samples, a.total_samples))
            .then_with(|| a.function.cmp(&b.function))
    });
    rows.truncate(limit);
    rows
}

/// `;` separates frames and a line ends in ` COUNT`: keep names from breaking either.
fn clean(name: &str) -> String {
    name.replace(';', ":").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Frame {
        Frame {
            name: name.into(),
            kernel: false,
        }
    }

    fn kernel(name: &str) -> Frame {
        Frame {
            name: name.into(),
            kernel: true,
        }
    }

    fn sample(comm: &str, frames: &[Frame], count: u64) -> StackSample {
        StackSample {
            comm: comm.into(),
            frames: frames.to_vec(),
            count,
        }
    }

    #[test]
    fn folded_stacks_start_with_the_command_and_mark_kernel_frames() {
        let samples = [
            sample("app", &[user("main"), user("spin")], 7),
            sample(
                "app",
                &[user("main"), user("write"), kernel("ksys_write")],
                2,
            ),
            sample("app", &[user("main"), user("spin")], 3),
        ];
        let folded = fold(&samples);
        assert_eq!(
            folded,
            [
                FoldedStack {
                    stack: "app;main;spin".into(),
                    count: 10
                },
                FoldedStack {
                    stack: "app;main;write;ksys_write_[k]".into(),
                    count: 2
                },
            ]
        );
    }

    #[test]
    fn names_with_separators_do_not_break_the_folded_format() {
        let folded = fold(&[sample("a;b", &[user("f(x;y)\n")], 1)]);
        assert_eq!(folded[0].stack, "a:b;f(x:y) ");
    }

    #[test]
    fn self_samples_count_the_leaf_and_total_samples_count_each_function_once_per_stack() {
        let samples = [
            sample("app", &[user("main"), user("fib"), user("fib")], 5),
            sample("app", &[user("main"), user("spin")], 9),
        ];
        let rows = top_functions(&samples, 10);
        let row = |name: &str| rows.iter().find(|r| r.function == name).unwrap();
        assert_eq!(rows[0].function, "spin");
        assert_eq!(
            (row("spin").self_samples, row("spin").total_samples),
            (9, 9)
        );
        assert_eq!((row("fib").self_samples, row("fib").total_samples), (5, 5));
        assert_eq!(
            (row("main").self_samples, row("main").total_samples),
            (0, 14)
        );
        assert_eq!(top_functions(&samples, 1).len(), 1);
    }
}
