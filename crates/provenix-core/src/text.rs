//! Untrusted text in messages and human output: control characters escaped,
//! attacker-sized values shortened.
//!
//! A `.drv` URL, a feed's CVE id or a file name in an output tree can hold
//! ESC, OSC or BEL sequences that would drive the terminal, or newlines that
//! forge lines of a report; and a 50 MB CPE would be a 50 MB error message.
//! Every command prints such text through [`escape_controls`], and error
//! messages go through [`shorten`].

/// Longest piece of an error message, in bytes, kept by [`shorten_message`].
pub const MAX_MESSAGE_PART: usize = 1024;

/// `text` with every control character (newlines and tabs too) escaped as
/// Rust does (`\n`, `\u{1b}`), so it prints as one inert line.
pub fn escape_controls(text: &str) -> String {
    escape_if(text, char::is_control)
}

/// `text` with control characters other than newline and tab escaped: for
/// multi-line text such as a diff or a log, which must keep its lines but
/// not drive the terminal.
pub fn escape_controls_keep_lines(text: &str) -> String {
    escape_if(text, |c| c.is_control() && c != '\n' && c != '\t')
}

fn escape_if(text: &str, escape: impl Fn(char) -> bool) -> String {
    if !text.chars().any(&escape) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// At most `max` bytes of `text` (cut at a character boundary), marked with
/// how many bytes were left out.
pub fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", text.get(..end).unwrap_or_default(), text.len() - end)
}

/// One part of an error message (one cause of a chain) made safe to print:
/// when longer than [`MAX_MESSAGE_PART`], its start and end are kept (the
/// end usually says what is wrong), and control characters other than
/// newline and tab (some messages show a log's lines) are escaped.
pub fn shorten_message(text: &str) -> String {
    let escape = escape_controls_keep_lines;
    let half = MAX_MESSAGE_PART / 2;
    if text.len() <= MAX_MESSAGE_PART {
        return escape(text);
    }
    let mut head = half;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - half;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    let (start, end) = (text.get(..head).unwrap_or_default(), text.get(tail..).unwrap_or_default());
    escape(&format!("{start} …({} bytes left out)… {end}", tail - head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_sequences_and_newlines() {
        assert_eq!(escape_controls("CVE-1\u{1b}]0;pwned\u{7}\n"), "CVE-1\\u{1b}]0;pwned\\u{7}\\n");
        assert_eq!(escape_controls("plain é"), "plain é");
    }

    #[test]
    fn shorten_keeps_short_text_and_says_how_much_it_cut() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdef", 3), "abc… (3 more bytes)");
        assert_eq!(shorten("ééé", 3), "é… (4 more bytes)");
    }

    proptest::proptest! {
        /// Any text, cut anywhere: no panic on character boundaries, and
        /// the result is bounded and has no terminal controls.
        #[test]
        fn shortening_any_text_is_bounded_and_inert(text in "[\\x00-\\x1f\\x7fa-zé€😀]{0,600}", repeat in 1usize..8, max in 0usize..64) {
            let text = text.repeat(repeat);
            let short = shorten_message(&text);
            proptest::prop_assert!(short.len() <= MAX_MESSAGE_PART * 11 + 64);
            proptest::prop_assert!(!short.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
            proptest::prop_assert!(shorten(&text, max).len() <= max + 40);
        }
    }

    #[test]
    fn long_messages_keep_their_start_and_end() {
        let message = format!("invalid CPE `{}`: expected 13 parts", "a".repeat(50 << 20));
        let short = shorten_message(&message);
        assert!(short.len() < 2 * MAX_MESSAGE_PART, "{}", short.len());
        assert!(short.starts_with("invalid CPE `aaa") && short.ends_with("`: expected 13 parts"), "{short}");
        assert!(short.contains(&format!("({} bytes left out)", message.len() - MAX_MESSAGE_PART)), "{short}");
        assert_eq!(shorten_message("short\x1b[2J\nline"), "short\\u{1b}[2J\nline");
    }
}
