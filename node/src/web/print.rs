//! Paper for the noticeboard, and the notices that head the board: the organisers' current
//! announcements (on the page and on paper), and the printable A4 board of open requests,
//! offers and gatherings in large type, each with its short code
//! ([`kith_protocol::shortcode`]) so that someone without a computer can ask for it by code.
//! Served at `/board/print` and by `GET /api/board/print` (`kith board --print`), the latter a
//! standalone file with its stylesheet inside.

use std::fmt::Write as _;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use kith_protocol::{Community, PostKind, Status};

use super::html::esc;
use super::{Session, WebState, date, refusal};
use crate::read::announce::AnnouncementOut;
use crate::replica::Replica;

/// The printed board's stylesheet: A4, large type, black on white.
pub const PRINT_STYLE: &str = include_str!("print.css");
/// Most posts on one printed board (about three pages of A4).
pub const MAX_PAPER_POSTS: usize = 30;
/// How far ahead the paper looks: posts open now and for the coming two weeks.
pub const PAPER_DAYS: u64 = 14;
/// Most characters of a post's details printed.
const PAPER_DETAILS: usize = 160;

/// How the printed board gets its stylesheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Styles {
    /// `<link>` to `/print.css` (the page's policy forbids inline styles).
    Linked,
    /// A `<style>` inside, for a file saved by `kith board --print`.
    Inline,
}

/// One post as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperPost {
    pub code: String,
    pub kind: PostKind,
    pub title: String,
    pub details: String,
    pub when: String,
    pub place: String,
    pub author_name: String,
    pub created_at_ms: u64,
}

/// What the printed board shows at `now`: open posts not expired, newest first within each kind,
/// at most [`MAX_PAPER_POSTS`]; each with the short code that tells it from every other post
/// held here.
pub fn paper_posts(replica: &Replica, community: &Community, now: u64) -> Vec<PaperPost> {
    let visible: Vec<_> = community.posts().filter(|(_, p)| community.post_visible(p)).map(|(h, _)| h).collect();
    let codes = kith_protocol::shortcode::codes(visible);
    let mut out = Vec::new();
    for view in replica.store().posts(community).unwrap_or_default() {
        let Some(post) = community.post(&view.id) else { continue };
        if !community.post_visible(&post) || post.status != Status::Open || post.expires_at_ms <= now {
            continue;
        }
        let Some(code) = codes.get(&view.id) else { continue };
        let mut details: String = view.details.chars().take(PAPER_DETAILS).collect();
        if view.details.chars().count() > PAPER_DETAILS {
            details.push('…');
        }
        out.push(PaperPost {
            code: code.clone(),
            kind: post.kind,
            title: view.title,
            details,
            when: view.when,
            place: view.place,
            author_name: crate::read::name_of(community, &post.author),
            created_at_ms: post.created_at_ms,
        });
    }
    out.sort_by_key(|p| (p.kind, std::cmp::Reverse(p.created_at_ms)));
    let mut kept = Vec::new();
    for kind in [PostKind::Request, PostKind::Offer, PostKind::Gathering] {
        kept.extend(out.iter().filter(|p| p.kind == kind).take(MAX_PAPER_POSTS / 3).cloned());
    }
    kept
}

/// The printed board as one HTML document.
pub fn board_page(
    community: &str,
    notices: &[AnnouncementOut],
    posts: &[PaperPost],
    now: u64,
    styles: Styles,
) -> String {
    let style = match styles {
        Styles::Linked => "<link rel=\"stylesheet\" href=\"/print.css\">".to_string(),
        Styles::Inline => format!("<style>\n{PRINT_STYLE}</style>"),
    };
    let mut main = String::new();
    let _ = write!(
        main,
        "<header><h1>What's on in {community}</h1><p class=\"printed\">Printed on {today}, for the two weeks \
to {until}. Newer posts are on Kith.</p></header>",
        community = esc(community),
        today = date(now),
        until = date(now + PAPER_DAYS * kith_protocol::report::DAY_MS),
    );
    main.push_str(&announcements(notices));
    for (kind, heading, empty) in [
        (PostKind::Request, "Neighbours asking for help", "Nobody is asking for help right now."),
        (PostKind::Offer, "Neighbours offering help", "No offers right now."),
        (PostKind::Gathering, "Gatherings", "No gatherings planned right now."),
    ] {
        let _ = write!(main, "<section><h2>{heading}</h2>");
        let mine: Vec<&PaperPost> = posts.iter().filter(|p| p.kind == kind).collect();
        if mine.is_empty() {
            let _ = write!(main, "<p>{empty}</p>");
        }
        for post in mine {
            let _ = write!(
                main,
                "<article class=\"paper-post\"><p class=\"code\"><span class=\"visually-hidden\">Code </span>{code}</p>\
<h3>{title}</h3>",
                code = esc(&post.code),
                title = esc(&post.title)
            );
            if !post.details.is_empty() {
                let _ = write!(main, "<p>{}</p>", esc(&post.details));
            }
            let mut facts = Vec::new();
            if !post.when.is_empty() {
                facts.push(format!("When: {}", esc(&post.when)));
            }
            if !post.place.is_empty() {
                facts.push(format!("Where: {}", esc(&post.place)));
            }
            facts.push(format!("From {}", esc(&post.author_name)));
            let _ = write!(main, "<p class=\"facts\">{}</p></article>", facts.join(" · "));
        }
        main.push_str("</section>");
    }
    main.push_str(
        "<footer><p>To answer a post, tell a Kith member or an organiser its code (the letters and \
numbers in the box), or type <code>kith show CODE</code>.</p></footer>",
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>What's on in {community} – printed board</title>\n{style}\n</head>\n<body>\n<main>\n{main}\n</main>\n</body>\n</html>\n",
        community = esc(community),
    )
}

/// The printable board as a standalone file, its stylesheet inside: what
/// `GET /api/board/print` answers (`kith board --print`).
pub fn standalone(replica: &Replica, community: &Community, now: u64) -> String {
    let notices = crate::read::announce::current(replica, community, now);
    let posts = paper_posts(replica, community, now);
    board_page(community.name(), &notices, &posts, now, Styles::Inline)
}

/// `GET /board/print`: the printable board in the browser.
pub async fn board(State(state): State<WebState>, Extension(_session): Extension<Session>) -> Response {
    let now = crate::clock::now_ms();
    // Off the runtime's workers: it reads every open post's entry.
    let drawn = state.node.read_blocking(move |replica| match replica.community() {
        Some(community) => board_page(
            community.name(),
            &crate::read::announce::current(replica, community, now),
            &paper_posts(replica, community, now),
            now,
            Styles::Linked,
        ),
        None => board_page("your community", &[], &[], now, Styles::Linked),
    });
    match drawn.await {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "the printed board could not be drawn");
            refusal(StatusCode::INTERNAL_SERVER_ERROR, "Kith could not print the board", "Please try again.")
        }
    }
}

/// `GET /print.css`.
pub async fn stylesheet() -> Response {
    let mut response = PRINT_STYLE.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The current announcements as a block at the top of the board; nothing when there are none.
pub fn announcements(notices: &[AnnouncementOut]) -> String {
    if notices.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section class=\"announcements\" aria-labelledby=\"announcements-title\">\
<h2 id=\"announcements-title\">Notices from the organisers</h2>",
    );
    for notice in notices {
        let _ = write!(out, "<article class=\"announcement\"><h3>{}</h3>", esc(&notice.title));
        for paragraph in notice.text.split("\n\n").filter(|p| !p.trim().is_empty()) {
            let _ = write!(out, "<p>{}</p>", esc(paragraph.trim()).replace('\n', "<br>"));
        }
        let _ = write!(
            out,
            "<p class=\"meta\">From {}, until {}</p></article>",
            esc(&notice.author_name),
            date(notice.until_ms)
        );
    }
    out.push_str("</section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_are_escaped_and_dated() {
        let notice = AnnouncementOut {
            id: "ab".into(),
            title: "Hall <closed>".into(),
            text: "Soup moves\nto the library.\n\nSee you there.".into(),
            author: "cd".into(),
            author_name: "Ada".into(),
            created_at: String::new(),
            created_at_ms: 0,
            until: String::new(),
            until_ms: 1_795_805_745_123,
        };
        let html = announcements(&[notice]);
        assert!(html.contains("<h3>Hall &lt;closed&gt;</h3>"), "{html}");
        assert!(html.contains("<p>Soup moves<br>to the library.</p><p>See you there.</p>"), "{html}");
        assert!(html.contains("From Ada, until 27 Nov 2026"), "{html}");
        assert!(announcements(&[]).is_empty());
    }
}
