//! Text from the traced system as a terminal shows it. A traced process picks its own name,
//! arguments and file names, and a tenant's job can put them in a summary: an escape
//! sequence among them would act on the terminal of whoever reads the output (set its
//! title, write its clipboard, hide lines), a newline would forge a line of the table, and
//! a bidirectional override would show text other than what it is. So control characters
//! and bidi controls are written as escapes, as strace does; everything else is kept.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every control character (C0, DEL, C1) and bidi control escaped.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_newlines_cannot_reach_the_terminal() {
        let hostile = "x\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\ny\r\u{9b}\u{202e}z\x7f";
        let text = shown(hostile);
        assert_eq!(
            text,
            "x\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J\\ny\\r\\x9b\\u{202e}z\\x7f"
        );
        assert!(!text.chars().any(needs_escape));
    }

    #[test]
    fn ordinary_text_is_kept_as_it_is_without_a_copy() {
        for text in ["/usr/bin/python3", "naïve café 日本", "a\\x41 b"] {
            assert!(matches!(shown(text), Cow::Borrowed(t) if t == text));
        }
    }
}
