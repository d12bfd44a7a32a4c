//! A message ready to send: its recipient, subject, and the same text as plain text and as HTML.
//! The domains write their messages (`orders::mail`, `privacy::mail`) with the helpers here.

use crate::kernel::pii::Email;

/// One message, rendered.
#[derive(Clone)]
pub struct Letter {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for Letter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Letter([redacted])")
    }
}

/// Text made safe to put inside HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Letter {
    /// A message of plain paragraphs (escaped in HTML) and, after the first (which says what it is for),
    /// a link.
    pub fn paragraphs(to: Email, subject: &str, paragraphs: &[String], link: Option<&str>) -> Letter {
        let mut lines: Vec<String> = paragraphs.to_vec();
        let mut body: Vec<String> = paragraphs.iter().map(|p| format!("<p>{}</p>", escape(p))).collect();
        if let Some(link) = link {
            lines.insert(1, link.to_owned());
            body.insert(1, format!("<p><a href=\"{0}\">{0}</a></p>", escape(link)));
        }
        let text = format!("{}\n", lines.join("\n\n"));
        Letter { to, subject: subject.to_owned(), text, html: html_page(subject, &body.join("\n")) }
    }
}

/// A whole HTML message around `body` (already escaped where it holds data).
pub fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font-family: sans-serif; max-width: 40em\">\n{body}\n</body></html>\n",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            super::escape(r#"<b a="1">Tom & 'Jerry'</b>"#),
            "&lt;b a=&quot;1&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }
}
