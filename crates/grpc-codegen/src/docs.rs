//! Turning .proto comments into rustdoc text that cannot break a user's build or doc tests.
//!
//! Comments in .proto files are written for protobuf readers, not rustdoc. Copied verbatim
//! they go wrong in known ways: an indented block or an untagged code fence becomes a Rust
//! doc test that fails to compile (`cargo test --doc` in the user's crate), `[x]` becomes a
//! broken intra-doc link, `<T>` an unclosed HTML tag, and a bare URL a `rustdoc::bare_urls`
//! warning. Text-direction control characters in a comment are a hard error
//! (`text_direction_codepoint_in_comment` is deny by default).
//!
//! The rules, applied per line outside code:
//!
//! - every code fence becomes a ```` ```text ```` fence, so no code block is ever Rust;
//! - an indented code block (4+ spaces where a paragraph cannot continue) is wrapped in a
//!   ```` ```text ```` fence with its indentation removed;
//! - code that would open inside a block quote or list item (a fence, or content indented
//!   four more spaces after the marker) is defused: the fence is escaped, the indentation
//!   dropped;
//! - `[` and `]` are escaped unless they form an inline link `[text](target)`;
//! - `<` is written `&lt;` unless it opens an autolink `<https://...>`;
//! - bare `http://` / `https://` URLs are wrapped in `<...>`;
//! - inline code spans (`` `...` ``) and fenced code are copied unchanged.

use prost_build::Comments;

/// The rustdoc lines (without the `///`) for an item's .proto comments: the leading comment,
/// then the trailing one. Leading detached comments are not documentation and are dropped.
pub(crate) fn comment_lines(comments: &Comments) -> Vec<String> {
    let mut raw: Vec<&str> = comments.leading.iter().map(String::as_str).collect();
    if !comments.leading.is_empty() && !comments.trailing.is_empty() {
        raw.push("");
    }
    raw.extend(comments.trailing.iter().map(String::as_str));
    sanitize(&raw)
}

/// Sanitizes comment lines as described in the module documentation.
pub(crate) fn sanitize(raw: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = raw
        .iter()
        .flat_map(|line| line.split(['\n', '\r']))
        .map(clean_chars)
        .map(|line| line.trim_end().to_owned())
        .collect();

    // Drop blank lines at both ends, then the indentation every line shares (a .proto comment
    // `// text` arrives as ` text`).
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    let first_text = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    lines.drain(..first_text);
    let common = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| indent_of(l))
        .min()
        .unwrap_or(0);
    for line in &mut lines {
        if !line.is_empty() {
            line.drain(..common);
        }
    }

    let mut out = Vec::with_capacity(lines.len() + 4);
    let mut fence: Option<Fence> = None;
    // Whether a paragraph is open, so that an indented line continues it instead of starting
    // a code block.
    let mut in_paragraph = false;
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        if let Some(open) = &fence {
            if open.is_closed_by(line) {
                fence = None;
            }
            out.push(line.clone());
            i += 1;
            continue;
        }
        if let Some(opened) = Fence::opened_by(line) {
            out.push(format!(
                "{}{}text",
                " ".repeat(indent_of(line)),
                opened.marker()
            ));
            fence = Some(opened);
            in_paragraph = false;
            i += 1;
            continue;
        }
        if line.is_empty() {
            out.push(String::new());
            in_paragraph = false;
            i += 1;
            continue;
        }
        if indent_of(line) >= 4 && !in_paragraph {
            // An indented code block: wrap the run of indented (and blank) lines in a text
            // fence. Blank lines at the end of the run stay outside it.
            let mut end = i;
            let mut last_text = i;
            while end < lines.len() && (lines[end].is_empty() || indent_of(&lines[end]) >= 4) {
                if !lines[end].is_empty() {
                    last_text = end;
                }
                end += 1;
            }
            let longest_backticks = lines[i..=last_text]
                .iter()
                .map(|l| longest_run(l, '`'))
                .max()
                .unwrap_or(0);
            let marker = "`".repeat(longest_backticks.max(2) + 1);
            out.push(format!("{marker}text"));
            for block_line in &lines[i..=last_text] {
                out.push(block_line.get(4..).unwrap_or("").to_owned());
            }
            out.push(marker);
            i = last_text + 1;
            in_paragraph = false;
            continue;
        }
        out.push(escape_inline(&defuse_containers(line)));
        in_paragraph = !ends_paragraph(line);
        i += 1;
    }
    if let Some(open) = fence {
        out.push(open.marker());
    }
    out
}

/// Defuses code blocks that Markdown would open inside a container (a block quote `> ` or a
/// list item `- `, `1. `) or at an indentation the top-level rules do not treat as a fence
/// (a nested list): a fence there gets a backslash before it (`\```` is literal text), and
/// content that a container marker follows with four or more spaces (an indented code
/// block inside the container) keeps one space. Rare in .proto files; the rendering changes a
/// little, and no doc test can appear.
fn defuse_containers(line: &str) -> String {
    let mut prefix = String::new();
    let mut rest = line;
    let mut in_container = false;
    loop {
        let body = rest.trim_start_matches(' ');
        let spaces = &rest[..rest.len() - body.len()];
        let marker_len = if body.starts_with('>') {
            1
        } else if let Some(len) = list_marker_len(body) {
            len
        } else {
            break;
        };
        in_container = true;
        prefix.push_str(spaces);
        prefix.push_str(&body[..marker_len]);
        rest = &body[marker_len..];
        // The one space that belongs to the marker.
        if let Some(after) = rest.strip_prefix(' ') {
            prefix.push(' ');
            rest = after;
        }
    }
    let content = rest.trim_start_matches(' ');
    let indent = rest.len() - content.len();
    let mut out = prefix;
    if in_container && indent >= 4 {
        // Indented code inside the container: keep it as text.
    } else {
        out.push_str(&rest[..indent]);
    }
    if content.starts_with("```") || content.starts_with("~~~") {
        out.push('\\');
    }
    out.push_str(content);
    out
}

/// The length of a list item marker at the start of `text` (`-`, `*`, `+`, or up to nine
/// digits and `.` or `)`), if one is there and followed by a space or the end of the line.
fn list_marker_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let len = match bytes.first()? {
        b'-' | b'*' | b'+' => 1,
        b'0'..=b'9' => {
            let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
            match bytes.get(digits) {
                Some(b'.' | b')') if digits <= 9 => digits + 1,
                _ => return None,
            }
        }
        _ => return None,
    };
    match bytes.get(len) {
        None | Some(b' ') => Some(len),
        _ => None,
    }
}

/// Removes characters that cannot appear in a doc comment or that rustc rejects there:
/// control characters (a bare CR is an error) and the text-direction overrides that
/// `text_direction_codepoint_in_comment` denies. Tabs become four spaces.
fn clean_chars(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '\t' => out.push_str("    "),
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn longest_run(line: &str, c: char) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for ch in line.chars() {
        if ch == c {
            current += 1;
            longest = longest.max(current);
        } else {
            current = 0;
        }
    }
    longest
}

/// Lines after which an indented line starts a code block rather than continuing a
/// paragraph: ATX headings and setext underlines / thematic breaks.
fn ends_paragraph(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.starts_with('#')
        || (!trimmed.is_empty()
            && trimmed
                .chars()
                .all(|c| matches!(c, '=' | '-' | '*' | '_' | ' ')))
}

/// An open code fence (CommonMark: three or more backticks or tildes, indented at most three
/// spaces).
struct Fence {
    ch: char,
    len: usize,
}

impl Fence {
    fn opened_by(line: &str) -> Option<Fence> {
        if indent_of(line) > 3 {
            return None;
        }
        let rest = line.trim_start_matches(' ');
        let ch = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let len = rest.chars().take_while(|c| *c == ch).count();
        if len < 3 {
            return None;
        }
        // A backtick fence's info string cannot contain backticks (that is inline code).
        if ch == '`' && rest[len..].contains('`') {
            return None;
        }
        Some(Fence { ch, len })
    }

    fn is_closed_by(&self, line: &str) -> bool {
        if indent_of(line) > 3 {
            return false;
        }
        let rest = line.trim_start_matches(' ');
        let run = rest.chars().take_while(|c| *c == self.ch).count();
        run >= self.len && rest[run * self.ch.len_utf8()..].trim().is_empty()
    }

    fn marker(&self) -> String {
        std::iter::repeat_n(self.ch, self.len).collect()
    }
}

/// Escapes one line of paragraph text (see the module documentation); code spans are copied
/// unchanged.
fn escape_inline(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                // An existing escape: keep it and the character it escapes.
                out.push(c);
                if let Some(&next) = chars.get(i + 1) {
                    out.push(next);
                    i += 1;
                }
                i += 1;
            }
            '`' => {
                let run = chars[i..].iter().take_while(|&&c| c == '`').count();
                match find_backtick_run(&chars, i + run, run) {
                    Some(close) => {
                        out.extend(&chars[i..close + run]);
                        i = close + run;
                    }
                    None => {
                        // No closing run on this line: literal backticks.
                        out.extend(&chars[i..i + run]);
                        i += run;
                    }
                }
            }
            '[' => match inline_link_end(&chars, i) {
                Some(end) => {
                    out.extend(&chars[i..end]);
                    i = end;
                }
                None => {
                    out.push_str("\\[");
                    i += 1;
                }
            },
            ']' => {
                out.push_str("\\]");
                i += 1;
            }
            '<' => match autolink_end(&chars, i) {
                Some(end) => {
                    out.extend(&chars[i..end]);
                    i = end;
                }
                None => {
                    out.push_str("&lt;");
                    i += 1;
                }
            },
            'h' if starts_url(&chars[i..]) && (i == 0 || !is_word_char(chars[i - 1])) => {
                let end = bare_url_end(&chars, i);
                out.push('<');
                out.extend(&chars[i..end]);
                out.push('>');
                i = end;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '/' || c == '.'
}

/// The index of the next run of exactly `run` backticks at or after `from`.
fn find_backtick_run(chars: &[char], from: usize, run: usize) -> Option<usize> {
    let mut j = from;
    while j < chars.len() {
        if chars[j] == '`' {
            let len = chars[j..].iter().take_while(|&&c| c == '`').count();
            if len == run {
                return Some(j);
            }
            j += len;
        } else {
            j += 1;
        }
    }
    None
}

/// If `[` at `start` opens an inline link `[text](target)` on this line, the index just past
/// its `)`.
fn inline_link_end(chars: &[char], start: usize) -> Option<usize> {
    let close = start + 1 + chars[start + 1..].iter().position(|&c| c == ']')?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let mut depth = 0usize;
    for (j, &c) in chars.iter().enumerate().skip(close + 1) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// If `<` at `start` opens an autolink `<scheme://...>`, the index just past its `>`.
fn autolink_end(chars: &[char], start: usize) -> Option<usize> {
    if !starts_url(&chars[start + 1..]) {
        return None;
    }
    for (j, &c) in chars.iter().enumerate().skip(start + 1) {
        if c == '>' {
            return Some(j + 1);
        }
        if c.is_whitespace() || c == '<' {
            return None;
        }
    }
    None
}

fn starts_url(chars: &[char]) -> bool {
    let prefix =
        |p: &str| p.chars().count() <= chars.len() && p.chars().zip(chars).all(|(a, &b)| a == b);
    (prefix("http://") && chars.len() > 7) || (prefix("https://") && chars.len() > 8)
}

/// The end of a bare URL starting at `start`: up to whitespace or a character that cannot be
/// part of it, without trailing punctuation, and without a `)` that closes a parenthesis
/// opened before the URL.
fn bare_url_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    while end < chars.len() && !chars[end].is_whitespace() && !"<>\"`".contains(chars[end]) {
        end += 1;
    }
    while let Some(&last) = chars[start..end].last() {
        let opens = chars[start..end].iter().filter(|&&c| c == '(').count();
        let closes = chars[start..end].iter().filter(|&&c| c == ')').count();
        if ".,;:!?'".contains(last) || (last == ')' && closes > opens) {
            end -= 1;
        } else {
            break;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Vec<String> {
        let lines: Vec<&str> = text.lines().collect();
        sanitize(&lines)
    }

    #[test]
    fn plain_text_is_dedented_and_trimmed() {
        assert_eq!(
            run(" Says hello.\n\n Second paragraph.  \n"),
            ["Says hello.", "", "Second paragraph."]
        );
    }

    #[test]
    fn indented_block_becomes_text_fence() {
        assert_eq!(
            run(" Example:\n\n     let x = 1;\n     x + 1\n\n After."),
            [
                "Example:",
                "",
                "```text",
                "let x = 1;",
                "x + 1",
                "```",
                "",
                "After."
            ]
        );
    }

    #[test]
    fn indented_block_after_heading_becomes_text_fence() {
        assert_eq!(
            run(" # Example\n     code()"),
            ["# Example", "```text", "code()", "```"]
        );
    }

    #[test]
    fn indented_line_continuing_a_paragraph_is_left_alone() {
        assert_eq!(run(" - item\n     continued"), ["- item", "    continued"]);
    }

    #[test]
    fn fences_become_text() {
        assert_eq!(
            run(" ```\n fn main() {}\n ```\n ~~~rust\n x\n ~~~"),
            ["```text", "fn main() {}", "```", "~~~text", "x", "~~~"]
        );
    }

    #[test]
    fn unclosed_fence_is_closed() {
        assert_eq!(run(" ````\n [x] <y>"), ["````text", "[x] <y>", "````"]);
    }

    #[test]
    fn brackets_angles_and_urls() {
        assert_eq!(
            run(" See [Foo] and [docs](https://x.y/z) for map<string, Foo>."),
            ["See \\[Foo\\] and [docs](https://x.y/z) for map&lt;string, Foo>."]
        );
        assert_eq!(
            run(" Visit https://grpc.io/docs. Or <https://a.b/c>."),
            ["Visit <https://grpc.io/docs>. Or <https://a.b/c>."]
        );
        assert_eq!(
            run(" (see https://en.wikipedia.org/wiki/Foo_(bar))"),
            ["(see <https://en.wikipedia.org/wiki/Foo_(bar)>)"]
        );
    }

    #[test]
    fn code_spans_are_untouched() {
        assert_eq!(
            run(" Use `a[0] < b` and ``x ` [y]``, not */ or \\[z]."),
            ["Use `a[0] < b` and ``x ` [y]``, not */ or \\[z\\]."]
        );
    }

    #[test]
    fn code_in_containers_is_defused() {
        assert_eq!(
            run(" > quote:\n >\n >     code();\n\n > ```\n > fenced();\n > ```"),
            [
                "> quote:",
                ">",
                "> code();",
                "",
                "> \\```",
                "> fenced();",
                "> \\```"
            ]
        );
        assert_eq!(
            run(" -     code();\n 12)     numbered();\n - - ```"),
            ["- code();", "12) numbered();", "- - \\```"]
        );
        // A fence nested deeper than a top-level fence can be.
        assert_eq!(
            run(" - a\n   - b\n       ```\n       x\n       ```"),
            ["- a", "  - b", "      \\```", "      x", "      \\```"]
        );
        // Ordinary list items and emphasis are left alone.
        assert_eq!(
            run(" - item\n *emphasis* and 3.5 and -1"),
            ["- item", "*emphasis* and 3.5 and -1"]
        );
    }

    #[test]
    fn control_and_bidi_characters_are_dropped() {
        assert_eq!(run(" a\u{202E}b\u{7}c\td"), ["abc    d"]);
    }
}
