//! The board and its posts: what neighbours need and offer and which gatherings are coming
//! (with search, kind and category), asking for or offering help, starting a gathering, one
//! post with its replies, replying ("I can help", "I'll come"), and marking one's own post done
//! or withdrawn.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use kith_protocol::body::limits;
use kith_protocol::{Body, EntryHash, PostKind, Status as PostStatus};

use super::html::{self, Field, Nav, Problems, capitalise, csrf_input, esc, url_part};
use super::{Session, WebState, ago, frame, missing, page, page_again, plain_refusal};
use crate::clock::now_ms;
use crate::read::wire::{PostDetail, PostSummary};

/// Categories offered in the form besides those already used on the board.
const CATEGORIES: [&str; 9] = [
    "shopping",
    "lifts",
    "garden",
    "company",
    "around the house",
    "meals",
    "computers and phones",
    "paperwork",
    "pets",
];

/// Words for each kind of post.
struct Words {
    heading: &'static str,
    title_label: &'static str,
    title_hint: &'static str,
    details_label: &'static str,
    details_hint: &'static str,
    when_label: &'static str,
    when_hint: &'static str,
    place_label: &'static str,
    place_hint: &'static str,
    submit: &'static str,
    tag: &'static str,
    by: &'static str,
    reply: &'static str,
    created: &'static str,
}

fn words(kind: PostKind) -> Words {
    match kind {
        PostKind::Request => Words {
            heading: "Ask for help",
            title_label: "What do you need help with?",
            title_hint: "A few words, for example: Shopping on Tuesday mornings",
            details_label: "Tell your neighbours more",
            details_hint: "What would help, and anything they should know.",
            when_label: "When?",
            when_hint: "For example: Tuesday mornings, or any weekday",
            place_label: "Where?",
            place_hint: "For example: near the library. There is no need to give your full address.",
            submit: "Put my request on the board",
            tag: "Needs help",
            by: "Asked by",
            reply: "I can help",
            created: "Your request is on the board. Neighbours will see it as soon as their Kith is connected.",
        },
        PostKind::Offer => Words {
            heading: "Offer help",
            title_label: "What can you offer?",
            title_hint: "A few words, for example: Lifts to the surgery",
            details_label: "Tell your neighbours more",
            details_hint: "What you can do, and when you are free.",
            when_label: "When are you free?",
            when_hint: "For example: weekday mornings",
            place_label: "Where?",
            place_hint: "For example: around Elm Street",
            submit: "Put my offer on the board",
            tag: "Offers help",
            by: "Offered by",
            reply: "I'd like this, please",
            created: "Your offer is on the board. Neighbours will see it as soon as their Kith is connected.",
        },
        PostKind::Gathering => Words {
            heading: "Start a gathering",
            title_label: "What is the gathering?",
            title_hint: "A few words, for example: Knitting circle",
            details_label: "Tell your neighbours more",
            details_hint: "What happens, who it is for, what to bring.",
            when_label: "When is it?",
            when_hint: "For example: Thursdays at 2pm",
            place_label: "Where is it?",
            place_hint: "For example: Elm Street library",
            submit: "Put my gathering on the board",
            tag: "Gathering",
            by: "Started by",
            reply: "Send my message",
            created: "Your gathering is on the board. Neighbours will see it as soon as their Kith is connected.",
        },
    }
}

fn kind_from(text: &str) -> Option<PostKind> {
    match text {
        "request" => Some(PostKind::Request),
        "offer" => Some(PostKind::Offer),
        "gathering" => Some(PostKind::Gathering),
        _ => None,
    }
}

fn kind_of(text: &str) -> PostKind {
    kind_from(text).unwrap_or(PostKind::Request)
}

// --- the board ---

#[derive(Debug, Default, Deserialize)]
pub struct BoardQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    show: String,
    #[serde(default)]
    category: String,
}

/// `GET /`: the board.
pub async fn board(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Query(query): Query<BoardQuery>,
) -> Response {
    let frame = frame(&state, &session).await;
    let now = now_ms();
    let catching_up = state.node.catch_up().map(|c| catching_up_notice(c.percent()));
    let (posts, categories, me, notices, matches) = {
        let replica = state.node.replica();
        let me = replica.me();
        let Some(community) = replica.community() else {
            drop(replica);
            if let Some(notice) = catching_up {
                return page(&frame, "What's on", Nav::Board, &format!("<h1>What's on</h1>{notice}"));
            }
            return page(&frame, "What's on", Nav::Board, &not_reached());
        };
        let notices = crate::read::announce::current(&replica, community, now);
        let matches = crate::inbox::matches(&replica, community, me, now).unwrap_or_default();
        let mut posts = Vec::new();
        let mut categories: BTreeSet<String> = CATEGORIES.iter().map(|c| (*c).to_string()).collect();
        for view in replica.store().posts(community).unwrap_or_default() {
            let Some(post) = community.post(&view.id) else { continue };
            if !community.post_visible(&post) {
                continue;
            }
            let fields = crate::read::post_fields(community, &view, &post, now);
            if fields.status == "open" && !fields.category.trim().is_empty() {
                categories.insert(fields.category.trim().to_lowercase());
            }
            posts.push(PostSummary { post: fields, replies: post.replies });
        }
        (posts, categories, me.to_string(), notices, matches)
    };
    let search = query.q.trim().to_lowercase();
    let category = query.category.trim().to_lowercase();
    let mine = query.show == "mine";
    let shown: Vec<&PostSummary> = posts
        .iter()
        .filter(|p| if mine { p.post.author == me } else { p.post.status == "open" })
        .filter(|p| category.is_empty() || p.post.category.trim().to_lowercase() == category)
        .filter(|p| {
            search.is_empty()
                || format!(
                    "{}\n{}\n{}\n{}\n{}\n{}",
                    p.post.title, p.post.details, p.post.category, p.post.place, p.post.when, p.post.author_name
                )
                .to_lowercase()
                .contains(&search)
        })
        .collect();
    let filtered = !search.is_empty() || !category.is_empty() || !query.show.is_empty();

    let mut main = String::new();
    let community = if frame.community.is_empty() { "your community".to_string() } else { frame.community.clone() };
    let _ = write!(main, "<h1>What's on in {}</h1>", esc(&community));
    main.push_str(&super::print::announcements(&notices));
    if let Some(notice) = &catching_up {
        main.push_str(notice);
    }
    if !frame.member {
        main.push_str(&waiting_notice());
    }
    main.push_str(
        "<ul class=\"actions\" aria-label=\"What would you like to do?\">\
<li><a class=\"button\" href=\"/new/request\">Ask for help</a></li>\
<li><a class=\"button\" href=\"/new/offer\">Offer help</a></li>\
<li><a class=\"button\" href=\"/new/gathering\">Start a gathering</a></li>\
<li><a class=\"button button-secondary\" href=\"/thank\">Thank someone with hours</a></li>\
<li><a class=\"button button-secondary\" href=\"/board/print\">Print for a noticeboard</a></li></ul>",
    );
    if !matches.is_empty() && !filtered_query(&query) {
        main.push_str(
            "<section class=\"board-section\" aria-labelledby=\"h-might\"><h2 id=\"h-might\">You might help with</h2><ul class=\"cards\">",
        );
        for item in &matches {
            let post = item.post.as_deref().unwrap_or_default();
            let title = posts.iter().find(|p| p.post.id == post).map(|p| p.post.title.clone()).unwrap_or_default();
            let _ = write!(
                main,
                "<li class=\"card card-request\"><p><a href=\"/posts/{}\">{}</a></p><p class=\"meta\">Asked by {} · {}</p></li>",
                url_part(post),
                esc(&title),
                esc(item.name.as_deref().unwrap_or("a neighbour")),
                esc(&capitalise(item.reason.as_deref().unwrap_or_default())),
            );
        }
        main.push_str("</ul></section>");
    }
    // The search form.
    let show_options: Vec<(String, String)> = [
        ("", "Everything"),
        ("request", "Neighbours who need help"),
        ("offer", "Offers of help"),
        ("gathering", "Gatherings"),
        ("mine", "My own posts"),
    ]
    .iter()
    .map(|(v, t)| ((*v).to_string(), (*t).to_string()))
    .collect();
    let mut category_options = vec![(String::new(), "Any kind".to_string())];
    category_options.extend(categories.iter().map(|c| (c.clone(), capitalise(c))));
    let none = Problems::default();
    let _ = write!(
        main,
        "<form method=\"get\" action=\"/\" class=\"search\" role=\"search\" aria-label=\"Search the board\">\
<h2 class=\"visually-hidden\">Search the board</h2>\
<div class=\"field\"><label for=\"f-q\">Search for</label>\
<input type=\"search\" id=\"f-q\" name=\"q\" value=\"{q}\" maxlength=\"100\"></div>\
{show}{category}<div class=\"search-buttons\"><button type=\"submit\">Search</button>{clear}</div></form>",
        q = esc(query.q.trim()),
        show = html::select("show", "Show", None, &show_options, &query.show, &none),
        category = html::select("category", "Kind of help", None, &category_options, &category, &none),
        clear = if filtered { " <a href=\"/\">Show everything</a>" } else { "" },
    );
    main.push_str("<div id=\"board\" data-live=\"The board has something new.\">");
    if filtered {
        let _ = write!(
            main,
            "<p class=\"result-count\">{}</p>",
            match shown.len() {
                0 => "Nothing matches your search.".to_string(),
                1 => "1 post matches your search.".to_string(),
                n => format!("{n} posts match your search."),
            }
        );
    }
    let wanted = |kind: &str| query.show.is_empty() || query.show == kind || mine;
    for (kind, heading, empty) in [
        ("request", "Neighbours who need help", "Nobody has asked for help just now."),
        ("offer", "Offers of help", "No offers of help just now."),
        ("gathering", "Gatherings coming up", "No gatherings just now."),
    ] {
        if !wanted(kind) {
            continue;
        }
        let list: Vec<&&PostSummary> = shown.iter().filter(|p| p.post.kind == kind).collect();
        if filtered && list.is_empty() {
            continue;
        }
        let _ = write!(
            main,
            "<section class=\"board-section\" aria-labelledby=\"h-{kind}\"><h2 id=\"h-{kind}\">{heading} <span class=\"count\">({})</span></h2>",
            list.len()
        );
        if list.is_empty() {
            let _ = write!(main, "<p class=\"empty\">{empty}</p>");
        } else {
            main.push_str("<ul class=\"cards\">");
            for post in list {
                main.push_str(&card(post, now));
            }
            main.push_str("</ul>");
        }
        main.push_str("</section>");
    }
    main.push_str("</div>");
    page(&frame, "What's on", Nav::Board, &main)
}

fn filtered_query(query: &BoardQuery) -> bool {
    !query.q.trim().is_empty() || !query.category.trim().is_empty() || !query.show.is_empty()
}

fn not_reached() -> String {
    "<h1>Not connected to your community yet</h1>\
<p>This computer has not reached your community yet, so there is nothing to show.</p>\
<p>Check this computer is connected to the internet. Kith keeps trying by itself. If you have just joined, \
ask the person who invited you whether their Kith is running.</p>\
<p><a href=\"/connection\">More about the connection</a></p>"
        .to_string()
}

/// While a catch-up is under way the board may be short or empty: say so, and how far.
fn catching_up_notice(percent: u8) -> String {
    format!(
        "<p class=\"notice\" role=\"status\">Getting your community's news… {percent}%. \
The board fills in as it arrives.</p>"
    )
}

pub(crate) fn waiting_notice() -> String {
    "<div class=\"notice\"><h2>You are waiting to be let in</h2>\
<p>A neighbour who is already a member needs to say they know you. Ask the person who invited you. \
Until then you can look around and fill in <a href=\"/profile\">your profile</a>.</p></div>"
        .to_string()
}

/// One post on the board.
fn card(summary: &PostSummary, now: u64) -> String {
    let post = &summary.post;
    let kind = kind_of(&post.kind);
    let words = words(kind);
    let id = esc(&post.id);
    let mut out = String::new();
    let _ = write!(
        out,
        "<li class=\"card card-{kind}\"><article aria-labelledby=\"post-{id}\">\
<h3 id=\"post-{id}\"><a href=\"/posts/{id}\">{title}</a></h3>\
<p class=\"meta\"><span class=\"tag tag-{kind}\">{tag}</span> {by} {name}{helped} · {ago}{status}</p>",
        kind = kind.as_str(),
        title = esc(&post.title),
        tag = words.tag,
        by = words.by,
        name = esc(&post.author_name),
        helped = super::helped::helped_by(post.helped_by_name.as_deref()),
        ago = ago(post.created_at_ms, now),
        status = status_words(&post.status).map(|s| format!(" · <strong>{s}</strong>")).unwrap_or_default(),
    );
    if !post.details.trim().is_empty() {
        let _ = write!(out, "<p class=\"excerpt\">{}</p>", esc(&excerpt(&post.details, 180)));
    }
    let mut facts = Vec::new();
    if let Some(starts) = &post.starts_in_words {
        facts.push(format!("<span>When: {}{}</span>", esc(starts), repeat_words(post)));
    }
    if !post.when.trim().is_empty() {
        facts.push(format!("<span>When: {}</span>", esc(&post.when)));
    }
    if post.starts_at.is_some() {
        facts.push(format!("<span>{}</span>", coming_count(post)));
    }
    if !post.place.trim().is_empty() {
        facts.push(format!("<span>Where: {}</span>", esc(&post.place)));
    }
    if !post.category.trim().is_empty() {
        facts.push(format!("<span>Kind of help: {}</span>", esc(&capitalise(post.category.trim()))));
    }
    facts.push(format!(
        "<span>{}</span>",
        match summary.replies {
            0 => "No replies yet".to_string(),
            1 => "1 reply".to_string(),
            n => format!("{n} replies"),
        }
    ));
    let _ = write!(out, "<p class=\"facts\">{}</p></article></li>", facts.join(" "));
    out
}

/// ", every week until Thursday 31 December 2026".
fn repeat_words(post: &crate::read::wire::PostFields) -> String {
    let every = match post.repeat.as_deref() {
        Some("weekly") => "every week",
        Some("fortnightly") => "every other week",
        Some("monthly") => "every month on the same weekday",
        _ => return String::new(),
    };
    match post.until.as_deref().and_then(|u| crate::when::parse_day(u).ok()) {
        Some(day) => format!(", {every} until {}", crate::when::day_in_words(day)),
        None => format!(", {every}"),
    }
}

/// "3 coming (room for 12)", "Full: 12 coming".
fn coming_count(post: &crate::read::wire::PostFields) -> String {
    count_of_coming(post.coming.len(), post.capacity, post.full)
}

/// "2 people coming (room for 8)", "Full: 8 people coming".
fn count_of_coming(coming: usize, capacity: Option<u32>, full: bool) -> String {
    let count = match coming {
        0 => "Nobody has said they are coming yet".to_string(),
        1 => "1 person coming".to_string(),
        n => format!("{n} people coming"),
    };
    match capacity {
        Some(_) if full => format!("Full: {count}"),
        Some(room) => format!("{count} (room for {room})"),
        None => count,
    }
}

fn status_words(status: &str) -> Option<&'static str> {
    match status {
        "done" => Some("done"),
        "withdrawn" => Some("withdrawn"),
        "expired" => Some("no longer shown (too old)"),
        _ => None,
    }
}

fn excerpt(text: &str, max_chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        return flat;
    }
    let cut: String = flat.chars().take(max_chars).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut}…")
}

// --- a new post ---

#[derive(Debug, Default, Deserialize)]
pub struct PostForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    when: String,
    #[serde(default)]
    place: String,
    /// A gathering's start (`datetime-local`), end (a time that day), repetition, last date
    /// and capacity.
    #[serde(default)]
    starts: String,
    #[serde(default)]
    ends: String,
    #[serde(default)]
    repeat: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    capacity: String,
}

/// The fields of a gathering's time, place and room.
fn gathering_fields(form: &PostForm, problems: &Problems) -> String {
    let repeat_options: Vec<(String, String)> = [
        ("", "Just once"),
        ("weekly", "Every week"),
        ("fortnightly", "Every other week"),
        ("monthly", "Every month, on the same weekday"),
    ]
    .iter()
    .map(|(v, t)| ((*v).to_string(), (*t).to_string()))
    .collect();
    format!(
        "<fieldset><legend>When is it?</legend>{starts}{ends}{repeat}{until}</fieldset>{capacity}",
        starts = Field::typed("starts", "Date and start time", &form.starts, "datetime-local")
            .hint("For example 4 December, 2:00 pm.")
            .render(problems),
        ends = Field::typed("ends", "Finishes at", &form.ends, "time").optional().render(problems),
        repeat = html::select("repeat", "Does it repeat?", None, &repeat_options, form.repeat.trim(), problems),
        until = Field::typed("until", "Last date", &form.until, "date")
            .hint("Only for a gathering that repeats. Leave it empty to keep it going.")
            .optional()
            .render(problems),
        capacity = Field::typed("capacity", "How many people is there room for?", &form.capacity, "number")
            .hint("Leave it empty if there is room for everyone.")
            .optional()
            .render(problems),
    )
}

/// A gathering's schedule from the form, or what is wrong with it (as a field's problem).
fn schedule_from(form: &PostForm, problems: &mut Problems) -> Option<kith_protocol::Schedule> {
    if form.starts.trim().is_empty() {
        problems.add("starts", "Please give the date and the time it starts.");
        return None;
    }
    let starts = match crate::when::parse_date_time(&form.starts) {
        Ok(starts) => starts,
        Err(_) => {
            problems.add("starts", "Please give the date and time like this: 2026-12-04 14:00.");
            return None;
        }
    };
    let ends = match form.ends.trim() {
        "" => None,
        time => {
            let day = crate::when::day_text(crate::when::day_of_instant(starts));
            match crate::when::parse_date_time(&format!("{day} {time}")) {
                Ok(ends) if ends > starts => Some(ends),
                _ => {
                    problems.add("ends", "Please give a time after it starts, like 16:00, or leave it empty.");
                    return None;
                }
            }
        }
    };
    let capacity = match form.capacity.trim() {
        "" => None,
        number => match number.parse::<u32>() {
            Ok(n) if (1..=kith_protocol::gathering::MAX_CAPACITY).contains(&n) => Some(n),
            _ => {
                problems.add("capacity", "Please give a number of people, like 12, or leave it empty.");
                return None;
            }
        },
    };
    if !form.until.trim().is_empty() && form.repeat.trim().is_empty() {
        problems.add(
            "until",
            "A last date is only for a gathering that repeats: choose how it repeats, or leave this empty.",
        );
        return None;
    }
    let new = crate::read::wire::NewSchedule {
        starts_at_ms: starts,
        ends_at_ms: ends,
        repeat: Some(form.repeat.clone()),
        until: Some(form.until.clone()),
        capacity,
    };
    match crate::read::schedule_of(&new) {
        Ok(schedule) => Some(schedule),
        Err(error) => {
            let field = if error.to_string().contains("last date") { "until" } else { "starts" };
            problems.add(field, format!("This date does not work: {error}."));
            None
        }
    }
}

fn post_form(kind: PostKind, form: &PostForm, problems: &Problems, csrf: &str, categories: &[String]) -> String {
    let words = words(kind);
    let mut category_options = vec![(String::new(), "Choose one (optional)".to_string())];
    let mut all: BTreeSet<String> = CATEGORIES.iter().map(|c| (*c).to_string()).collect();
    all.extend(categories.iter().cloned());
    if !form.category.trim().is_empty() {
        all.insert(form.category.trim().to_string());
    }
    category_options.extend(all.iter().map(|c| (c.clone(), capitalise(c))));
    category_options.push(("other".to_string(), "Something else".to_string()));
    format!(
        "<h1>{heading}</h1>{summary}\
<form method=\"post\" action=\"/new/{kind}\" novalidate>{csrf}{title}{details}{category}{when}{place}\
<button type=\"submit\">{submit}</button></form>\
<p><a href=\"/\">Back to the board without posting</a></p>",
        heading = words.heading,
        summary = problems.summary(),
        kind = kind.as_str(),
        csrf = csrf_input(csrf),
        title =
            Field::line("title", words.title_label, &form.title, limits::TITLE).hint(words.title_hint).render(problems),
        details = Field::text("details", words.details_label, &form.details, limits::DETAILS)
            .hint(words.details_hint)
            .optional()
            .render(problems),
        category = html::select("category", "Kind of help", None, &category_options, form.category.trim(), problems),
        when = if kind == PostKind::Gathering {
            gathering_fields(form, problems)
        } else {
            Field::line("when", words.when_label, &form.when, limits::WHEN)
                .hint(words.when_hint)
                .optional()
                .render(problems)
        },
        place = Field::line("place", words.place_label, &form.place, limits::PLACE)
            .hint(words.place_hint)
            .optional()
            .render(problems),
        submit = words.submit,
    )
}

fn used_categories(state: &WebState) -> Vec<String> {
    let replica = state.node.replica();
    let Some(community) = replica.community() else { return Vec::new() };
    let mut out = BTreeSet::new();
    for view in replica.store().posts(community).unwrap_or_default() {
        if community.post(&view.id).is_some_and(|p| community.post_visible(&p)) && !view.category.trim().is_empty() {
            out.insert(view.category.trim().to_lowercase());
        }
    }
    out.into_iter().collect()
}

fn nav_for(kind: PostKind) -> Nav {
    match kind {
        PostKind::Request => Nav::Ask,
        PostKind::Offer => Nav::Offer,
        PostKind::Gathering => Nav::Gathering,
    }
}

/// `GET /new/{kind}`: the form to ask for help, offer help or start a gathering.
pub async fn new_form(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Path(kind): Path<String>,
) -> Response {
    let frame = frame(&state, &session).await;
    let Some(kind) = kind_from(&kind) else { return missing(&frame, "There is no such form") };
    let mut main = String::new();
    if !frame.member {
        main.push_str(&waiting_notice());
    }
    main.push_str(&post_form(
        kind,
        &PostForm::default(),
        &Problems::default(),
        &session.csrf,
        &used_categories(&state),
    ));
    page(&frame, words(kind).heading, nav_for(kind), &main)
}

/// `POST /new/{kind}`: puts the post on the board, or shows the form again with what is wrong.
pub async fn create(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Path(kind): Path<String>,
    Form(form): Form<PostForm>,
) -> Response {
    let Some(kind) = kind_from(&kind) else {
        let frame = frame(&state, &session).await;
        return missing(&frame, "There is no such form");
    };
    let mut problems = Problems::default();
    let title = form.title.trim().to_string();
    if title.is_empty() {
        problems.add("title", format!("Please write a few words for “{}”", words(kind).title_label));
    }
    let category = match form.category.trim() {
        "other" => String::new(),
        other => other.to_string(),
    };
    let schedule = if kind == PostKind::Gathering { schedule_from(&form, &mut problems) } else { None };
    let body = Body::Post {
        kind,
        title,
        details: form.details.trim_end().to_string(),
        category,
        when: form.when.trim().to_string(),
        place: form.place.trim().to_string(),
        expires_at: schedule.as_ref().and_then(crate::read::gathering_ends),
        schedule,
    };
    if problems.is_empty()
        && let Err(error) = body.check_fields()
    {
        match super::field_problem(&error) {
            Some((field, message)) => problems.add(field, message),
            None => problems.add("", error.to_string()),
        }
    }
    if problems.is_empty() {
        match state.node.publish(body).await {
            Ok(entry) => return Redirect::to(&format!("/posts/{}?new=1", entry.hash())).into_response(),
            Err(error) => problems.add("", plain_refusal(&state, error)),
        }
    }
    let frame = frame(&state, &session).await;
    let main = post_form(kind, &form, &problems, &session.csrf, &used_categories(&state));
    page_again(&frame, words(kind).heading, nav_for(kind), &main)
}

// --- one post ---

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    new: Option<String>,
    #[serde(default)]
    replied: Option<String>,
    #[serde(default)]
    changed: Option<String>,
    #[serde(default)]
    coming: Option<String>,
    #[serde(default)]
    renewed: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    text: String,
}

fn find_post(state: &WebState, text: &str) -> Option<(PostDetail, String)> {
    let hash: EntryHash = crate::read::resolve_post(&state.node, text).ok()?;
    let replica = state.node.replica();
    let community = replica.community()?;
    let detail = crate::read::post_detail(&replica, community, &hash, now_ms()).ok()?;
    Some((detail, replica.me().to_string()))
}

/// "Neighbours who offer this", for the author of a request.
fn helpers_section(state: &WebState, post: &str) -> String {
    let helpers = {
        let replica = state.node.replica();
        let Some(community) = replica.community() else { return String::new() };
        let Ok(hash) = post.parse::<EntryHash>() else { return String::new() };
        crate::inbox::helpers_for(&replica, community, &hash, now_ms()).unwrap_or_default()
    };
    if helpers.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section aria-labelledby=\"h-helpers\"><h2 id=\"h-helpers\">Neighbours who offer this</h2>\
<p>They may not have seen your request yet: it is in their “For you” page.</p><ul>",
    );
    for (id, name, why) in helpers {
        let _ = write!(
            out,
            "<li><a href=\"/neighbours/{}\">{}</a> — {}</li>",
            url_part(&id.to_string()),
            esc(&name),
            esc(&why)
        );
    }
    out.push_str("</ul></section>");
    out
}

fn post_page(
    detail: &PostDetail,
    me: &str,
    flash: Option<&str>,
    reply: &ReplyForm,
    problems: &Problems,
    csrf: &str,
) -> String {
    let now = now_ms();
    let post = &detail.post;
    let kind = kind_of(&post.kind);
    let words = words(kind);
    let mine = post.author == me;
    let id = esc(&post.id);
    let mut main = String::new();
    if let Some(flash) = flash {
        let _ = write!(main, "<div class=\"flash\" role=\"status\"><p>{}</p></div>", esc(flash));
    }
    let _ = write!(
        main,
        "<p class=\"meta\"><span class=\"tag tag-{k}\">{tag}</span></p><h1>{title}</h1>\
<p class=\"meta\">{by} <a href=\"/neighbours/{author}\">{name}</a> · {ago}</p>",
        k = kind.as_str(),
        tag = words.tag,
        title = esc(&post.title),
        by = words.by,
        author = esc(&post.author),
        name = if mine { "you".to_string() } else { esc(&post.author_name) }
            + &super::helped::helped_by(post.helped_by_name.as_deref()),
        ago = ago(post.created_at_ms, now),
    );
    if let Some(status) = status_words(&post.status) {
        let _ = write!(main, "<p class=\"notice\">This is <strong>{status}</strong>.</p>");
    }
    if !post.details.trim().is_empty() {
        let _ = write!(main, "<div class=\"details\">{}</div>", esc(&post.details));
    }
    let mut facts = String::new();
    if let Some(starts) = &post.starts_in_words {
        let until = post.ends_at_ms.map(|end| format!(" to {}", crate::when::time_in_words(end))).unwrap_or_default();
        let _ = write!(facts, "<dt>When</dt><dd>{}{until}{}</dd>", esc(starts), repeat_words(post));
    }
    for (label, value) in [("When", &post.when), ("Where", &post.place), ("Kind of help", &post.category)] {
        if !value.trim().is_empty() {
            let _ = write!(facts, "<dt>{label}</dt><dd>{}</dd>", esc(value));
        }
    }
    if !facts.is_empty() {
        let _ = write!(main, "<dl class=\"facts-list\">{facts}</dl>");
    }

    if post.starts_at.is_some() {
        main.push_str(&coming_section(post, me, mine, csrf));
    }

    // Replies, kept fresh by the script.
    let _ = write!(
        main,
        "<section id=\"replies\" aria-labelledby=\"h-replies\" data-live=\"A new reply arrived.\"><h2 id=\"h-replies\">Replies <span class=\"count\">({})</span></h2>",
        detail.replies.len()
    );
    if detail.replies.is_empty() {
        main.push_str("<p class=\"empty\">No replies yet.</p>");
    } else {
        main.push_str("<ul class=\"replies\">");
        for reply in &detail.replies {
            let who = if reply.author == me { "You".to_string() } else { esc(&reply.author_name) };
            let _ = write!(
                main,
                "<li><p class=\"meta\"><strong>{who}</strong> · {}</p><div class=\"details\">{}</div>",
                ago(reply.created_at_ms, now),
                esc(&reply.text)
            );
            if mine && reply.author != me {
                let _ = write!(
                    main,
                    "<p><a class=\"button button-secondary\" href=\"/thank?to={to}&amp;post={id}\">Thank {name} with hours</a></p>",
                    to = esc(&reply.author),
                    name = esc(&reply.author_name),
                );
            }
            main.push_str("</li>");
        }
        main.push_str("</ul>");
    }
    main.push_str("</section>");

    if !mine && post.status == "open" {
        let _ = write!(
            main,
            "<section aria-labelledby=\"h-reply\"><h2 id=\"h-reply\">Reply to {name}</h2>{summary}\
<form method=\"post\" action=\"/posts/{id}/reply\" novalidate>{csrf}{field}\
<button type=\"submit\">{button}</button></form></section>",
            name = esc(&post.author_name),
            summary = problems.summary(),
            csrf = csrf_input(csrf),
            field = Field::text("text", "Your message", &reply.text, limits::REPLY)
                .hint(&if kind == PostKind::Gathering {
                    "A question or a note for them. To say you'll come, use the button above.".to_string()
                } else {
                    format!("If you leave it empty, Kith sends “{}”.", words.reply)
                })
                .optional()
                .render(problems),
            button = words.reply,
        );
    }
    if !mine && kind == PostKind::Offer {
        let _ = write!(
            main,
            "<p><a class=\"button button-secondary\" href=\"/thank?to={to}&amp;post={id}\">Thank {name} with hours</a></p>",
            to = esc(&post.author),
            name = esc(&post.author_name),
        );
    }
    if mine && post.status != "done" && post.status != "withdrawn" {
        let _ = write!(
            main,
            "<form method=\"post\" action=\"/posts/{id}/renew\">{}<p>{}</p>\
<button type=\"submit\" class=\"button-secondary\">Keep it on the board longer</button></form>",
            csrf_input(csrf),
            if post.status == "expired" {
                "It has been on the board a long time and is no longer shown. If it is still needed, put it back."
                    .to_string()
            } else {
                format!("It stays on the board until {}.", esc(&crate::when::in_words(post.expires_at_ms, now)))
            },
        );
    }
    if mine {
        main.push_str("<section aria-labelledby=\"h-status\"><h2 id=\"h-status\">Your post</h2>");
        let _ = write!(
            main,
            "<form method=\"post\" action=\"/posts/{id}/status\" class=\"inline-buttons\">{}",
            csrf_input(csrf)
        );
        if post.status == "open" {
            main.push_str(
                "<p>When it is finished, or no longer needed, take it off the board.</p>\
<button type=\"submit\" name=\"status\" value=\"done\">Mark as done</button> \
<button type=\"submit\" name=\"status\" value=\"withdrawn\" class=\"button-secondary\">Withdraw it</button>",
            );
        } else {
            main.push_str(
                "<p>It is off the board.</p><button type=\"submit\" name=\"status\" value=\"open\">Put it back on the board</button>",
            );
        }
        main.push_str("</form></section>");
    }
    main.push_str("<p><a href=\"/\">Back to the board</a></p>");
    main
}

/// Who is coming to a gathering, "I'll come" / "I can't come after all", and the calendar.
fn coming_section(post: &crate::read::wire::PostFields, me: &str, mine: bool, csrf: &str) -> String {
    let id = esc(&post.id);
    let mut out = String::new();
    let date = post.next_date.as_deref().and_then(|d| crate::when::parse_day(d).ok());
    let heading = match date {
        Some(day) => format!("Who's coming on {}", crate::when::day_in_words(day)),
        None => "Who's coming".to_string(),
    };
    let _ = write!(
        out,
        "<section id=\"coming\" aria-labelledby=\"h-coming\" data-live=\"Someone answered this gathering.\">\
<h2 id=\"h-coming\">{heading}</h2><p>{}</p>",
        esc(&coming_count(post))
    );
    if !post.coming.is_empty() {
        out.push_str("<ul class=\"coming\">");
        for person in &post.coming {
            let name = if person.member_id == me { "You".to_string() } else { esc(&person.name) };
            let _ = write!(out, "<li>{name}</li>");
        }
        out.push_str("</ul>");
    }
    let coming = post.coming.iter().any(|c| c.member_id == me);
    if !mine && post.status == "open" {
        let every = if post.repeat.is_some() { " (every time)" } else { "" };
        if coming {
            let _ = write!(
                out,
                "<form method=\"post\" action=\"/posts/{id}/come\">{}<p>You said you are coming.</p>\
<button type=\"submit\" name=\"coming\" value=\"no\" class=\"button-secondary\">I can't come after all</button></form>",
                csrf_input(csrf)
            );
        } else if post.full {
            out.push_str("<p class=\"notice\">It is full: there is no room for more people.</p>");
        } else {
            let _ = write!(
                out,
                "<form method=\"post\" action=\"/posts/{id}/come\">{}\
<button type=\"submit\" name=\"coming\" value=\"yes\">I'll come{every}</button></form>",
                csrf_input(csrf)
            );
        }
    }
    out.push_str(&dates_section(post, me, mine, csrf));
    let _ = write!(
        out,
        "<p><a href=\"/posts/{id}/calendar.ics\" download=\"gathering.ics\">Add it to my calendar</a> \
<span class=\"hint\">(a file your calendar app opens)</span></p></section>"
    );
    out
}

/// A repeating gathering's coming dates, each with how many are coming and, for others than
/// its author, "I'll come on …" / "I can't come on …" for that date alone.
fn dates_section(post: &crate::read::wire::PostFields, me: &str, mine: bool, csrf: &str) -> String {
    let mut out = String::new();
    if post.dates.is_empty() {
        return out;
    }
    let id = esc(&post.id);
    out.push_str("<h3 id=\"h-dates\">The next dates</h3><ul class=\"cards dates\" aria-labelledby=\"h-dates\">");
    for date in &post.dates {
        let day = esc(&date.in_words);
        let _ = write!(
            out,
            "<li class=\"card\" id=\"date-{}\"><p><strong>{day}</strong>: {}</p>",
            esc(&date.date),
            esc(&count_of_coming(date.coming.len(), post.capacity, date.full))
        );
        if !date.coming.is_empty() {
            let names: Vec<String> =
                date.coming.iter().map(|c| if c.member_id == me { "You".to_string() } else { esc(&c.name) }).collect();
            let _ = write!(out, "<p>{}</p>", names.join(", "));
        }
        if !mine && post.status == "open" {
            let coming = date.coming.iter().any(|c| c.member_id == me);
            let button = if coming {
                format!(
                    "<button type=\"submit\" name=\"coming\" value=\"no\" class=\"button-secondary\">I can't come on {day}</button>"
                )
            } else if date.full {
                String::new()
            } else {
                format!("<button type=\"submit\" name=\"coming\" value=\"yes\">I'll come on {day}</button>")
            };
            if !button.is_empty() {
                let _ = write!(
                    out,
                    "<form method=\"post\" action=\"/posts/{id}/come\">{}<input type=\"hidden\" name=\"date\" value=\"{}\">{button}</form>",
                    csrf_input(csrf),
                    esc(&date.date)
                );
            }
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
    out
}

/// `GET /posts/{post}`: a post and its replies.
pub async fn show(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Path(post): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Response {
    let frame = frame(&state, &session).await;
    let Some((detail, me)) = find_post(&state, &post) else { return missing(&frame, "This post is not here") };
    let words = words(kind_of(&detail.post.kind));
    let flash = if query.new.is_some() {
        Some(words.created.to_string())
    } else if query.replied.is_some() {
        Some(format!("Your reply is sent. {} will see it as soon as their Kith is connected.", detail.post.author_name))
    } else if let Some(date) = query.coming.as_deref().and_then(|d| detail.post.dates.iter().find(|x| x.date == d)) {
        Some(if date.coming.iter().any(|c| c.member_id == me) {
            format!("{} will see that you are coming on {}.", detail.post.author_name, date.in_words)
        } else {
            format!("{} will see that you can't come on {}.", detail.post.author_name, date.in_words)
        })
    } else if query.coming.is_some() {
        Some(if detail.post.coming.iter().any(|c| c.member_id == me) {
            format!("{} will see that you are coming.", detail.post.author_name)
        } else {
            format!("{} will see that you can't come.", detail.post.author_name)
        })
    } else if query.renewed.is_some() {
        Some("It stays on the board longer now.".to_string())
    } else if query.changed.is_some() {
        Some(match detail.post.status.as_str() {
            "done" => "Marked as done and taken off the board. Thank you!".to_string(),
            "withdrawn" => "Withdrawn and taken off the board.".to_string(),
            _ => "It is back on the board.".to_string(),
        })
    } else {
        None
    };
    let mut main =
        post_page(&detail, &me, flash.as_deref(), &ReplyForm::default(), &Problems::default(), &session.csrf);
    if detail.post.author == me && detail.post.kind == "request" && detail.post.status == "open" {
        main.push_str(&helpers_section(&state, &detail.post.id));
    }
    page(&frame, &detail.post.title, Nav::Board, &main)
}

/// `POST /posts/{post}/reply`.
pub async fn reply(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Path(post): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Response {
    let Some((detail, me)) = find_post(&state, &post) else {
        let frame = frame(&state, &session).await;
        return missing(&frame, "This post is not here");
    };
    let words = words(kind_of(&detail.post.kind));
    let gathering = detail.post.kind == PostKind::Gathering.as_str();
    let text = if form.text.trim().is_empty() && !gathering {
        words.reply.to_string()
    } else {
        form.text.trim_end().to_string()
    };
    let mut problems = Problems::default();
    let hash = detail.post.id.parse::<EntryHash>();
    match hash {
        Ok(hash) => {
            let body = Body::Reply { post: hash, text };
            if let Err(error) = body.check_fields() {
                match super::field_problem(&error) {
                    Some((field, message)) => problems.add(field, message),
                    None => problems.add("", error.to_string()),
                }
            } else {
                match state.node.publish(body).await {
                    Ok(_) => {
                        return Redirect::to(&format!("/posts/{}?replied=1#replies", detail.post.id)).into_response();
                    }
                    Err(error) => problems.add("", plain_refusal(&state, error)),
                }
            }
        }
        Err(_) => problems.add("", "This post cannot be replied to."),
    }
    let frame = frame(&state, &session).await;
    let main = post_page(&detail, &me, None, &form, &problems, &session.csrf);
    page_again(&frame, &detail.post.title, Nav::Board, &main)
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
}

/// `POST /posts/{post}/status`: done, withdrawn, or open again.
pub async fn set_status(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Path(post): Path<String>,
    Form(form): Form<StatusForm>,
) -> Response {
    let status = match form.status.as_str() {
        "done" => PostStatus::Done,
        "withdrawn" => PostStatus::Withdrawn,
        _ => PostStatus::Open,
    };
    act_on_post(
        &state,
        &session,
        &post,
        |post| Body::PostStatus { post, status },
        "changed=1",
        "This post cannot be changed.",
    )
    .await
}

/// Publishes `body` about the post named `post`: on success back to the post with `after` in its
/// address, otherwise the post again with why (`cannot` when the post's id cannot be read).
async fn act_on_post(
    state: &WebState,
    session: &Session,
    post: &str,
    body: impl FnOnce(EntryHash) -> Body,
    after: &str,
    cannot: &str,
) -> Response {
    let Some((detail, me)) = find_post(state, post) else {
        let frame = frame(state, session).await;
        return missing(&frame, "This post is not here");
    };
    let mut problems = Problems::default();
    match detail.post.id.parse::<EntryHash>() {
        Ok(hash) => match state.node.publish(body(hash)).await {
            Ok(_) => return Redirect::to(&format!("/posts/{}?{after}", url_part(&detail.post.id))).into_response(),
            Err(error) => problems.add("", plain_refusal(state, error)),
        },
        Err(_) => problems.add("", cannot),
    }
    let frame = frame(state, session).await;
    let mut main = problems.summary();
    main.push_str(&post_page(&detail, &me, None, &ReplyForm::default(), &Problems::default(), &session.csrf));
    page_again(&frame, &detail.post.title, Nav::Board, &main)
}

#[derive(Debug, Default, Deserialize)]
pub struct ComeForm {
    #[serde(default)]
    coming: String,
    /// One date of a repeating gathering (`YYYY-MM-DD`); empty: every date.
    #[serde(default)]
    date: String,
}

/// `POST /posts/{post}/come`: "I'll come" or "I can't come after all".
pub async fn come(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Path(post): Path<String>,
    Form(form): Form<ComeForm>,
) -> Response {
    let coming = form.coming == "yes";
    // A date the page did not offer is refused by the protocol's rule like any other.
    let date = crate::when::parse_day(form.date.trim()).ok();
    let body = |post| Body::Come { post, date, coming };
    let after = match date {
        Some(day) => format!("coming={0}#date-{0}", crate::when::day_text(day)),
        None => "coming=1#coming".to_string(),
    };
    act_on_post(&state, &session, &post, body, &after, "This gathering cannot be answered.").await
}

/// `POST /posts/{post}/renew`: another lifetime on the board.
pub async fn renew(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Path(post): Path<String>,
) -> Response {
    let body = |post| Body::Renew { post };
    act_on_post(&state, &session, &post, body, "renewed=1", "This post cannot be renewed.").await
}

/// `GET /posts/{post}/calendar.ics`: the gathering for a calendar app.
pub async fn calendar(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Path(post): Path<String>,
) -> Response {
    let text = crate::read::resolve_post(&state.node, &post).and_then(|hash| {
        let replica = state.node.replica();
        let community = replica.community().ok_or_else(|| crate::read::ApiError::NotFound(String::new()))?;
        crate::read::gathering_calendar(&replica, community, &[hash])
    });
    match text {
        Ok(text) => {
            let mut response = text.into_response();
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("text/calendar; charset=utf-8"),
            );
            response.headers_mut().insert(
                axum::http::header::CONTENT_DISPOSITION,
                axum::http::HeaderValue::from_static("attachment; filename=\"gathering.ics\""),
            );
            response
        }
        Err(_) => {
            let frame = frame(&state, &session).await;
            missing(&frame, "This gathering is not here")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catch_up_says_how_far_it_has_come() {
        let notice = catching_up_notice(45);
        assert!(notice.contains("Getting your community's news… 45%"), "{notice}");
        assert!(notice.contains("role=\"status\""), "read out by screen readers: {notice}");
    }

    #[test]
    fn excerpts_cut_at_a_word() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("one two three four", 9), "one two…");
        assert_eq!(excerpt("a\n\nb", 10), "a b");
    }

    #[test]
    fn every_kind_has_its_words() {
        for kind in [PostKind::Request, PostKind::Offer, PostKind::Gathering] {
            assert_eq!(kind_from(kind.as_str()), Some(kind));
            assert!(!words(kind).submit.is_empty());
        }
        assert_eq!(kind_from("<script>"), None);
    }
}
