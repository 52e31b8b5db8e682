//! The export as CSV for a spreadsheet: the same facts as the JSON export (members, posts,
//! transfers), one table after another in one file.

use super::wire::Export;

/// The export as one CSV file for a spreadsheet: three tables (members, posts, transfers)
/// one after the other, each with its own header row, the first column naming the table.
pub fn csv(document: &Export) -> String {
    let mut out = String::new();
    let mut row = |cells: &[&str]| {
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    };
    row(&["table", "member_id", "name", "area", "status", "balance_minutes", "organiser", "vouched_by"]);
    for m in &document.members {
        let balance = m.balance_minutes.to_string();
        let vouched = m.vouched_by.join(" ");
        row(&["member", &m.member_id, &m.name, &m.area, &m.status, &balance, bool_text(m.organiser), &vouched]);
    }
    row(&[]);
    row(&[
        "table",
        "id",
        "kind",
        "title",
        "category",
        "when",
        "place",
        "author",
        "author_name",
        "status",
        "created_at",
        "replies",
        "details",
    ]);
    for p in &document.posts {
        let f = &p.post;
        let replies = p.replies.len().to_string();
        let cells = [
            "post",
            &f.id,
            &f.kind,
            &f.title,
            &f.category,
            &f.when,
            &f.place,
            &f.author,
            &f.author_name,
            &f.status,
            &f.created_at,
            &replies,
            &f.details,
        ];
        row(&cells);
    }
    row(&[]);
    row(&["table", "id", "from", "from_name", "to", "to_name", "minutes", "memo", "for_post", "created_at", "claimed"]);
    for t in &document.transfers {
        let minutes = t.minutes.to_string();
        let for_post = t.for_post.clone().unwrap_or_default();
        let cells = [
            "transfer",
            &t.id,
            &t.from,
            &t.from_name,
            &t.to,
            &t.to_name,
            &minutes,
            &t.memo,
            &for_post,
            &t.created_at,
            bool_text(t.claimed),
        ];
        row(&cells);
    }
    out
}

fn bool_text(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// One CSV cell: quoted when it holds a comma, quote or line break; text (not a number)
/// starting with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'` so a
/// spreadsheet does not run it (OWASP's list: a tab or CR before a formula still starts one).
pub(crate) fn csv_cell(text: &str) -> String {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<i64>().is_err();
    let text = if formula { format!("'{text}") } else { text.to_string() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_cell("-60"), "-60");
        assert_eq!(csv_cell("-x"), "'-x");
        assert_eq!(csv_cell("\t=SUM(A1)"), "'\t=SUM(A1)");
        assert_eq!(csv_cell("\r=SUM(A1)"), "\"'\r=SUM(A1)\"");
    }
}
