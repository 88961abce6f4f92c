//! What a command answers — text, an optional embed, whether only the caller sees it — and
//! [`inert`], which every piece of text not written by gsm passes through.
//!
//! Host names are tame, but player names, chat messages, job reasons, game versions and anything
//! typed into a command are not: someone can name themselves `@everyone` or `**x**`, or send 10 kB.
//! [`inert`] escapes Discord's markdown, breaks mentions with a zero-width space, drops control
//! characters and bounds the length, so such text shows as typed and pings nobody. The adapter
//! also sends every reply with mentions disabled, so a mention that slipped through still pings
//! nobody: two guards, either one enough.

/// Discord's limit on a message's text.
pub const MAX_CONTENT: usize = 2000;
/// Discord's limit on an embed's description.
pub const MAX_DESCRIPTION: usize = 4096;
/// Discord's limit on an embed field's value.
pub const MAX_FIELD: usize = 1024;
/// Discord's limit on an embed's fields.
pub const MAX_FIELDS: usize = 25;

/// Embed colours, by how the answer went.
pub mod colour {
    /// Good news: online, succeeded.
    pub const OK: u32 = 0x2e_cc_71;
    /// Something is off: stale, running long.
    pub const WARN: u32 = 0xf1_c4_0f;
    /// Bad news: offline, failed.
    pub const BAD: u32 = 0xe7_4c_3c;
    /// Neutral information.
    pub const INFO: u32 = 0x34_98_db;
}

/// One answer to a command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// The message text (already inert).
    pub content: String,
    /// An embed, when the answer is a record.
    pub embed: Option<Embed>,
    /// Only the caller sees it (refusals, link codes).
    pub ephemeral: bool,
}

impl Reply {
    /// A reply everyone in the channel sees.
    pub fn public(content: impl Into<String>) -> Reply {
        Reply { content: bound(content.into(), MAX_CONTENT), embed: None, ephemeral: false }
    }

    /// A reply only the caller sees.
    pub fn private(content: impl Into<String>) -> Reply {
        Reply { ephemeral: true, ..Reply::public(content) }
    }
}

/// A Discord embed: a title, a description and fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Embed {
    /// The title.
    pub title: String,
    /// The description.
    pub description: String,
    /// Name/value pairs, shown inline.
    pub fields: Vec<(String, String)>,
    /// The side colour (see [`colour`]).
    pub colour: u32,
}

impl Embed {
    /// Adds a field, keeping within Discord's limits (extra fields are dropped).
    pub fn field(&mut self, name: impl Into<String>, value: impl Into<String>) {
        if self.fields.len() < MAX_FIELDS {
            let value = value.into();
            let value = if value.is_empty() { "—".to_owned() } else { value };
            self.fields.push((bound(name.into(), 256), bound(value, MAX_FIELD)));
        }
    }
}

/// Text from outside gsm made safe to show: markdown escaped, mentions broken, control
/// characters dropped, at most `max_chars` characters (cut with an ellipsis).
pub fn inert(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    for (shown, ch) in text.chars().enumerate() {
        if shown == max_chars {
            out.push('…');
            return out;
        }
        match ch {
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']' | '(' | ')' | '-' | ':' => {
                out.push('\\');
                out.push(ch);
            }
            // `@everyone`, `<@123>`, `<@&role>`, `<#channel>`: a zero-width space stops Discord
            // from reading them as mentions.
            '@' | '<' => {
                out.push(ch);
                out.push('\u{200b}');
            }
            ch if ch.is_control() => out.push(' '),
            ch => out.push(ch),
        }
    }
    out
}

/// Cuts gsm's own text to `max` characters.
fn bound(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        assert_eq!(inert(input, 100), expect, "{input:?}");
    }

    #[test]
    fn hostile_text_is_shown_as_typed_and_pings_nobody() {
        check("@everyone", "@\u{200b}everyone");
        check("<@123456789>", "<\u{200b}@\u{200b}123456789\\>");
        check("<@&42> <#7>", "<\u{200b}@\u{200b}&42\\> <\u{200b}\\#7\\>");
        check("**bold** _it_ `code`", "\\*\\*bold\\*\\* \\_it\\_ \\`code\\`");
        check("[link](https://evil)", "\\[link\\]\\(https\\://evil\\)");
        check("> quote\n# head", "\\> quote \\# head");
        check("a\u{0}b\u{1b}[31m", "a b \\[31m");
        check("plain text", "plain text");
    }

    #[test]
    fn huge_text_is_cut() {
        let long = "x".repeat(10_000);
        let shown = inert(&long, 50);
        assert_eq!(shown.chars().count(), 51);
        assert!(shown.ends_with('…'));
        let reply = Reply::public("y".repeat(5000));
        assert_eq!(reply.content.chars().count(), MAX_CONTENT);
        let mut embed = Embed::default();
        for i in 0..40 {
            embed.field(format!("f{i}"), "z".repeat(3000));
        }
        assert_eq!(embed.fields.len(), MAX_FIELDS);
        assert!(embed.fields.iter().all(|(_, v)| v.chars().count() <= MAX_FIELD));
    }
}
