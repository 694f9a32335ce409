//! Text taken from a document into tollgate's own output.

/// Text from the document made safe for one comment line (and a terminal): control
/// characters and every line or paragraph separator become spaces.
pub fn comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}
