//! Building the page's HTML by hand: escaping every piece of user text ([`esc`]), the frame
//! every page shares ([`layout`]: skip link, banner, navigation, connection line, main,
//! footer) and the form pieces that show a hint and an error beside the field they belong to.

use std::fmt::Write as _;

/// Text made safe to put in HTML, in element content or a quoted attribute.
pub fn esc(text: &str) -> String {
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

/// A query-string value, percent-encoded.
pub fn url_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Which part of the site a page belongs to, to mark the navigation's current link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Board,
    Ask,
    Offer,
    Gathering,
    Hours,
    Neighbours,
    Profile,
    Report,
    ForYou,
    Devices,
    None,
}

/// What the frame of every signed-in page shows.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub community: String,
    pub my_name: String,
    pub csrf: String,
    /// One plain sentence: "Connected to 3 neighbours".
    pub connection: String,
    pub connected: bool,
    /// Join requests a member could vouch for.
    pub waiting: usize,
    /// Whether this person is a member yet (not only asking to join).
    pub member: bool,
    /// Whether this person is an organiser (the navigation then offers the report).
    pub organiser: bool,
    /// Unread items in the inbox ("For you").
    pub unread: usize,
    /// Why an organiser suspended this member, if they are suspended: every page says so.
    pub suspended: Option<String>,
    /// The "acting for" switch (and its notice) when this node holds helped members' keys.
    pub acting: String,
}

/// The notice heading every page of a suspended member: what happened, why, and what it means.
pub fn suspended_notice(reason: &str) -> String {
    format!(
        "<div class=\"notice\" role=\"alert\"><h2>An organiser has suspended you</h2>\
<p>The reason they gave: <strong>{}</strong></p>\
<p>While you are suspended your posts and replies are hidden, and you cannot post, reply, thank anyone \
with hours or vouch for anyone. You can still read the board. If you think this is a mistake, \
talk to an organiser: they can lift it.</p></div>",
        esc(reason)
    )
}

/// A whole signed-in page.
pub fn layout(frame: &Frame, title: &str, nav: Nav, main: &str) -> String {
    let community = if frame.community.is_empty() { "Kith" } else { frame.community.as_str() };
    let mut links = String::new();
    let waiting = if frame.member && frame.waiting > 0 {
        format!(" <span class=\"badge\">({} waiting to join)</span>", frame.waiting)
    } else {
        String::new()
    };
    let report = frame.organiser.then(|| (Nav::Report, "/report", "How we're doing".to_string()));
    let unread =
        if frame.unread > 0 { format!(" <span class=\"badge\">({} new)</span>", frame.unread) } else { String::new() };
    for (target, href, label) in [
        (Nav::Board, "/", "What's on".to_string()),
        (Nav::Ask, "/new/request", "Ask for help".to_string()),
        (Nav::Offer, "/new/offer", "Offer help".to_string()),
        (Nav::Gathering, "/new/gathering", "Start a gathering".to_string()),
        (Nav::Hours, "/hours", "My hours".to_string()),
        (Nav::Neighbours, "/neighbours", format!("Neighbours{waiting}")),
        (Nav::Profile, "/profile", "My profile".to_string()),
        (Nav::ForYou, "/inbox", format!("<span id=\"inbox-count\" data-live=\"\">For you{unread}</span>")),
        (Nav::Devices, "/devices", "Devices".to_string()),
    ]
    .into_iter()
    .chain(report)
    {
        let current = if target == nav { " aria-current=\"page\"" } else { "" };
        let _ = write!(links, "<li><a href=\"{href}\"{current}>{label}</a></li>");
    }
    let dot = if frame.connected { "dot dot-on" } else { "dot dot-off" };
    let suspended = frame.suspended.as_deref().map(suspended_notice).unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title} – {community}</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n\
<script src=\"/live.js\" defer></script>\n</head>\n<body>\n\
<a class=\"skip\" href=\"#main\">Skip to main content</a>\n\
<header class=\"banner\">\n<div class=\"wrap\">\n<p class=\"site\"><a href=\"/\">{community}</a></p>\n\
<p class=\"who\">Signed in as {name}</p>\n</div>\n\
<nav aria-label=\"Main\" class=\"wrap\"><ul class=\"nav\">{links}</ul></nav>\n\
<div class=\"connection-bar\"><p class=\"connection wrap\" id=\"connection\" data-live=\"\"><span class=\"{dot}\" aria-hidden=\"true\"></span>\
<a href=\"/connection\">{connection}</a></p></div>\n{acting}</header>\n\
<main id=\"main\" class=\"wrap\" tabindex=\"-1\">\n{suspended}{main}\n\
<div id=\"live-news\" class=\"live-news\" role=\"status\" aria-live=\"polite\"></div>\n</main>\n\
<footer class=\"wrap footer\">\n<p>Kith runs on this computer: what you see comes from your neighbours' computers, not from a company.</p>\n\
<form method=\"post\" action=\"/logout\">{csrf}<button type=\"submit\" class=\"link-button\">Sign out of this page</button></form>\n\
</footer>\n</body>\n</html>\n",
        title = esc(title),
        community = esc(community),
        name = esc(&frame.my_name),
        connection = esc(&frame.connection),
        csrf = csrf_input(&frame.csrf),
        acting = frame.acting,
    )
}

/// A page for someone not signed in (no navigation, nothing of the community).
pub fn bare(title: &str, main: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title} – Kith</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n<body>\n\
<a class=\"skip\" href=\"#main\">Skip to main content</a>\n\
<header class=\"banner\"><div class=\"wrap\"><p class=\"site\">Kith</p></div></header>\n\
<main id=\"main\" class=\"wrap\" tabindex=\"-1\">\n{main}\n</main>\n</body>\n</html>\n",
        title = esc(title),
    )
}

/// The hidden field every form carries.
pub fn csrf_input(csrf: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(csrf))
}

/// Problems with a form, each tied to the field it is about (`""` for the form as a whole).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<(&'static str, String)>);

impl Problems {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }

    /// The box at the top of a form that failed: what went wrong, each a link to its field.
    /// It is focused by the script when the page loads.
    pub fn summary(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let mut items = String::new();
        for (field, message) in &self.0 {
            if field.is_empty() {
                let _ = write!(items, "<li>{}</li>", esc(message));
            } else {
                let _ = write!(items, "<li><a href=\"#f-{field}\">{}</a></li>", esc(message));
            }
        }
        format!(
            "<div class=\"problems\" id=\"problems\" role=\"alert\" tabindex=\"-1\" aria-labelledby=\"problems-title\">\
<h2 id=\"problems-title\">Something needs fixing</h2><ul>{items}</ul>\
<p>Everything you typed is still here.</p></div>"
        )
    }
}

/// How a field is typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Line,
    Text {
        rows: u8,
    },
    /// An `<input>` of another type: `datetime-local`, `date`, `time`, `number`.
    Typed(&'static str),
}

/// One labelled form field with its hint and, after a failed try, its error.
#[derive(Debug, Clone)]
pub struct Field<'a> {
    pub name: &'static str,
    pub label: &'a str,
    pub hint: Option<&'a str>,
    pub value: &'a str,
    pub input: Input,
    /// Most bytes the community accepts (the browser stops at about this many characters).
    pub max: usize,
    pub optional: bool,
    pub autocomplete: Option<&'static str>,
    pub list: Option<&'static str>,
}

impl<'a> Field<'a> {
    pub fn line(name: &'static str, label: &'a str, value: &'a str, max: usize) -> Field<'a> {
        Field {
            name,
            label,
            hint: None,
            value,
            input: Input::Line,
            max,
            optional: false,
            autocomplete: None,
            list: None,
        }
    }
    pub fn text(name: &'static str, label: &'a str, value: &'a str, max: usize) -> Field<'a> {
        Field { input: Input::Text { rows: 5 }, ..Field::line(name, label, value, max) }
    }
    /// An input of another type than text (`datetime-local`, `date`, `time`, `number`).
    pub fn typed(name: &'static str, label: &'a str, value: &'a str, kind: &'static str) -> Field<'a> {
        Field { input: Input::Typed(kind), ..Field::line(name, label, value, 40) }
    }
    pub fn hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    pub fn autocomplete(mut self, token: &'static str) -> Self {
        self.autocomplete = Some(token);
        self
    }
    pub fn list(mut self, id: &'static str) -> Self {
        self.list = Some(id);
        self
    }

    pub fn render(&self, problems: &Problems) -> String {
        let id = format!("f-{}", self.name);
        let error = problems.get(self.name);
        let mut out = String::new();
        let class = if error.is_some() { "field field-error" } else { "field" };
        let optional = if self.optional { " <span class=\"optional\">(optional)</span>" } else { "" };
        let _ = write!(out, "<div class=\"{class}\"><label for=\"{id}\">{}{optional}</label>", esc(self.label));
        let mut attrs = hint_and_error(&mut out, &id, self.hint, error);
        if let Some(token) = self.autocomplete {
            let _ = write!(attrs, " autocomplete=\"{token}\"");
        }
        if let Some(list) = self.list {
            let _ = write!(attrs, " list=\"{list}\"");
        }
        match self.input {
            Input::Line => {
                let _ = write!(
                    out,
                    "<input type=\"text\" id=\"{id}\" name=\"{}\" value=\"{}\" maxlength=\"{}\"{attrs}>",
                    self.name,
                    esc(self.value),
                    self.max
                );
            }
            Input::Typed(kind) => {
                let required = if self.optional { "" } else { " required" };
                let _ = write!(
                    out,
                    "<input type=\"{kind}\" id=\"{id}\" name=\"{}\" value=\"{}\"{required}{attrs}>",
                    self.name,
                    esc(self.value),
                );
            }
            Input::Text { rows } => {
                let _ = write!(
                    out,
                    "<textarea id=\"{id}\" name=\"{}\" rows=\"{rows}\" maxlength=\"{}\"{attrs}>{}</textarea>",
                    self.name,
                    self.max,
                    esc(self.value)
                );
            }
        }
        out.push_str("</div>");
        out
    }
}

/// A select with its label, hint and error.
/// Writes a field's hint and error (if any) and returns the input's attributes that tie them
/// to it for screen readers (`aria-describedby`, `aria-invalid`).
fn hint_and_error(out: &mut String, id: &str, hint: Option<&str>, error: Option<&str>) -> String {
    let mut described = Vec::new();
    if let Some(hint) = hint {
        let _ = write!(out, "<p class=\"hint\" id=\"{id}-hint\">{}</p>", esc(hint));
        described.push(format!("{id}-hint"));
    }
    if let Some(error) = error {
        let _ = write!(
            out,
            "<p class=\"error\" id=\"{id}-error\"><span class=\"visually-hidden\">Problem: </span>{}</p>",
            esc(error)
        );
        described.push(format!("{id}-error"));
    }
    let mut attrs = String::new();
    if !described.is_empty() {
        let _ = write!(attrs, " aria-describedby=\"{}\"", described.join(" "));
    }
    if error.is_some() {
        attrs.push_str(" aria-invalid=\"true\"");
    }
    attrs
}

/// `text` with its first letter in capitals.
pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub fn select(
    name: &'static str,
    label: &str,
    hint: Option<&str>,
    options: &[(String, String)],
    chosen: &str,
    problems: &Problems,
) -> String {
    let id = format!("f-{name}");
    let error = problems.get(name);
    let mut out = String::new();
    let class = if error.is_some() { "field field-error" } else { "field" };
    let _ = write!(out, "<div class=\"{class}\"><label for=\"{id}\">{}</label>", esc(label));
    let attrs = hint_and_error(&mut out, &id, hint, error);
    let _ = write!(out, "<select id=\"{id}\" name=\"{name}\"{attrs}>");
    for (value, text) in options {
        let selected = if value == chosen { " selected" } else { "" };
        let _ = write!(out, "<option value=\"{}\"{selected}>{}</option>", esc(value), esc(text));
    }
    out.push_str("</select></div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_could_open_markup() {
        assert_eq!(esc("<script>\"a\" & 'b'</script>"), "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;");
        assert_eq!(esc("Café – ok"), "Café – ok");
    }

    #[test]
    fn encodes_url_parts() {
        assert_eq!(url_part("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn a_field_with_an_error_says_so_beside_it() {
        let mut problems = Problems::default();
        problems.add("title", "Please say what you need <help> with");
        let html = Field::line("title", "What", "<b>x</b>", 120).hint("A few words").render(&problems);
        assert!(html.contains("aria-invalid=\"true\""));
        assert!(html.contains("aria-describedby=\"f-title-hint f-title-error\""));
        assert!(html.contains("&lt;help&gt;"));
        assert!(html.contains("value=\"&lt;b&gt;x&lt;/b&gt;\""));
        assert!(problems.summary().contains("href=\"#f-title\""));
    }

    #[test]
    fn a_suspended_member_is_told_why_on_every_page() {
        let frame = Frame { suspended: Some("rude <b>posts</b>".into()), ..Frame::default() };
        let html = layout(&frame, "What's on", Nav::Board, "<p>board</p>");
        assert!(html.contains("An organiser has suspended you"), "{html}");
        assert!(html.contains("rude &lt;b&gt;posts&lt;/b&gt;"), "the reason, escaped: {html}");
        let html = layout(&Frame::default(), "What's on", Nav::Board, "<p>board</p>");
        assert!(!html.contains("suspended you"), "{html}");
    }
}
