//! Neighbours on the page: the list of members and of people asking to join (with vouching for
//! those a member knows), one person's profile, editing one's own, and the connection to the
//! community in plain words with what to do when there is none.

use std::fmt::Write as _;

use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use kith_protocol::body::limits;
use kith_protocol::{Body, MemberId};

use super::html::{Field, Nav, Problems, capitalise, csrf_input, esc, url_part};
use super::{Session, WebState, ago, frame, missing, page, page_again, plain_refusal};
use crate::clock::now_ms;
use crate::read::wire::MemberOut;

fn role_words(member: &MemberOut) -> String {
    let mut roles = Vec::new();
    if member.founder {
        roles.push("founder");
    }
    if member.organiser {
        roles.push("organiser");
    }
    if member.hub {
        roles.push("community computer");
    }
    if member.status == "suspended" {
        roles.push("suspended");
    }
    roles.join(", ")
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    vouched: Option<String>,
}

/// `GET /neighbours`: join requests (for members) and members.
pub async fn list(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Query(query): Query<ListQuery>,
) -> Response {
    let frame = frame(&state, &session).await;
    let (everyone, me, needed) = {
        let replica = state.node.replica();
        let me = replica.me().to_string();
        match replica.community() {
            Some(community) => (crate::read::member_list(community, false), me, community.rules().vouches_needed),
            None => (Vec::new(), me, 1),
        }
    };
    let mut main = String::new();
    if let Some(id) = &query.vouched
        && let Some(person) = everyone.iter().find(|m| m.member_id == *id)
    {
        let text = if person.status == "member" {
            format!("Thank you: {} is now a member.", person.name)
        } else {
            format!("Thank you: you have said you know {}. They need more members to say so too.", person.name)
        };
        let _ = write!(main, "<div class=\"flash\" role=\"status\"><p>{}</p></div>", esc(&text));
    }
    main.push_str(
        "<h1>Neighbours</h1><p><a href=\"/directory\">The directory to print: who agreed to be listed</a></p>",
    );
    let waiting: Vec<&MemberOut> = everyone.iter().filter(|m| m.status == "pending" && m.member_id != me).collect();
    main.push_str("<div id=\"people\" data-live=\"The list of neighbours has changed.\">");
    if frame.member && !waiting.is_empty() {
        let _ = write!(
            main,
            "<section aria-labelledby=\"h-waiting\"><h2 id=\"h-waiting\">Waiting to join <span class=\"count\">({})</span></h2>\
<p>These people have asked to join. If you know one of them, say so and they are let in{}. \
Only vouch for people you really know.</p><ul class=\"people\">",
            waiting.len(),
            if needed > 1 { format!(" once {needed} members have") } else { String::new() }
        );
        for person in waiting {
            let id = esc(&person.member_id);
            let mine = person.vouched_by.contains(&me);
            let _ = write!(
                main,
                "<li class=\"card\"><h3><a href=\"/neighbours/{id}\">{name}</a></h3>",
                name = esc(&person.name)
            );
            if !person.area.is_empty() {
                let _ = write!(main, "<p class=\"meta\">Lives: {}</p>", esc(&person.area));
            }
            if mine {
                main.push_str("<p>You have vouched for them. They are waiting for more members to vouch.</p>");
            } else {
                let note_label = format!("How do you know {}?", person.name);
                let _ = write!(
                    main,
                    "<form method=\"post\" action=\"/neighbours/{id}/vouch\">{csrf}{note}\
<button type=\"submit\">I know {name}: let them in</button></form>",
                    csrf = csrf_input(&session.csrf),
                    note = Field::line("note", &note_label, "", limits::NOTE)
                        .hint("For example: my neighbour at number 12")
                        .optional()
                        .render(&Problems::default())
                        .replace("id=\"f-note\"", &format!("id=\"f-note-{id}\""))
                        .replace("for=\"f-note\"", &format!("for=\"f-note-{id}\""))
                        .replace("f-note-hint", &format!("f-note-{id}-hint")),
                    name = esc(&person.name),
                );
            }
            main.push_str("</li>");
        }
        main.push_str("</ul></section>");
    }
    let members: Vec<&MemberOut> = everyone.iter().filter(|m| m.status != "pending" && !m.hub).collect();
    let _ = write!(
        main,
        "<section aria-labelledby=\"h-members\"><h2 id=\"h-members\">Members <span class=\"count\">({})</span></h2><ul class=\"people\">",
        members.len()
    );
    for person in members {
        let roles = role_words(person);
        let you = if person.member_id == me { " (you)" } else { "" };
        let _ = write!(
            main,
            "<li class=\"card\"><h3><a href=\"/neighbours/{id}\">{name}</a>{you}</h3>",
            id = esc(&person.member_id),
            name = esc(&person.name)
        );
        let mut facts = Vec::new();
        if !person.area.is_empty() {
            facts.push(format!("Lives: {}", esc(&person.area)));
        }
        if !roles.is_empty() {
            facts.push(capitalise(&roles));
        }
        if !facts.is_empty() {
            let _ = write!(main, "<p class=\"meta\">{}</p>", facts.join(" · "));
        }
        main.push_str("</li>");
    }
    main.push_str("</ul></section></div>");
    page(&frame, "Neighbours", Nav::Neighbours, &main)
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /neighbours/{member}`: one person's profile and open posts.
pub async fn show(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Path(member): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Response {
    let frame = frame(&state, &session).await;
    let Ok(id) = member.parse::<MemberId>() else { return missing(&frame, "This person is not known here") };
    let now = now_ms();
    let mut main = String::new();
    let mut title = String::from("Neighbour");
    {
        let replica = state.node.replica();
        let me = replica.me();
        let Some(community) = replica.community() else {
            drop(replica);
            return missing(&frame, "This person is not known here");
        };
        let Some(person) = community.member(&id) else {
            drop(replica);
            return missing(&frame, "This person is not known here");
        };
        let profile = replica.store().profile(community, &id).ok().flatten();
        let name = person.name();
        title.clone_from(&name);
        if query.saved.is_some() && id == me {
            main.push_str("<div class=\"flash\" role=\"status\"><p>Your profile is saved.</p></div>");
        }
        let _ = write!(main, "<h1>{}{}</h1>", esc(&name), if id == me { " (you)" } else { "" });
        let status = if person.suspended.is_some() {
            "Suspended by the organisers".to_string()
        } else if person.admitted {
            let by: Vec<String> = person.vouched_by.iter().map(|v| crate::read::name_of(community, v)).collect();
            if id == community.founder() {
                "Member: started this community".to_string()
            } else if by.is_empty() {
                "Member".to_string()
            } else {
                format!("Member: vouched for by {}", by.join(", "))
            }
        } else {
            "Waiting to join".to_string()
        };
        let _ = write!(main, "<p class=\"meta\">{}</p>", esc(&status));
        let mut facts = String::new();
        if let Some(profile) = &profile {
            for (label, value) in [("Lives", &profile.area), ("How to reach them", &profile.contact)] {
                if !value.trim().is_empty() {
                    let _ = write!(facts, "<dt>{label}</dt><dd>{}</dd>", esc(value));
                }
            }
            if !profile.skills.is_empty() {
                let _ = write!(facts, "<dt>Happy to help with</dt><dd>{}</dd>", esc(&profile.skills.join(", ")));
            }
        }
        if !facts.is_empty() {
            let _ = write!(main, "<dl class=\"facts-list\">{facts}</dl>");
        }
        if let Some(profile) = &profile
            && !profile.about.trim().is_empty()
        {
            let _ = write!(main, "<h2>About</h2><div class=\"details\">{}</div>", esc(&profile.about));
        }
        if id == me {
            main.push_str("<p><a class=\"button\" href=\"/profile\">Change my profile</a></p>");
        } else if person.admitted && person.suspended.is_none() && community.is_member(&me) {
            let _ = write!(
                main,
                "<p><a class=\"button button-secondary\" href=\"/thank?to={}\">Thank {} with hours</a></p>",
                url_part(&id.to_string()),
                esc(&name)
            );
        }
        let mut posts = String::new();
        for view in replica.store().posts(community).unwrap_or_default() {
            let Some(post) = community.post(&view.id) else { continue };
            if post.author != id || !community.post_visible(&post) {
                continue;
            }
            let fields = crate::read::post_fields(community, &view, &post, now);
            if fields.status != "open" {
                continue;
            }
            let _ = write!(
                posts,
                "<li><a href=\"/posts/{}\">{}</a> <span class=\"meta\">· {}</span></li>",
                esc(&fields.id),
                esc(&fields.title),
                ago(fields.created_at_ms, now)
            );
        }
        let _ = write!(main, "<h2>On the board</h2>");
        if posts.is_empty() {
            main.push_str("<p class=\"empty\">Nothing on the board just now.</p>");
        } else {
            let _ = write!(main, "<ul class=\"plain-list\">{posts}</ul>");
        }
    }
    main.push_str("<p><a href=\"/neighbours\">All neighbours</a></p>");
    page(&frame, &title, Nav::Neighbours, &main)
}

#[derive(Debug, Default, Deserialize)]
pub struct VouchForm {
    #[serde(default)]
    note: String,
}

/// `POST /neighbours/{member}/vouch`.
pub async fn vouch(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Path(member): Path<String>,
    Form(form): Form<VouchForm>,
) -> Response {
    let frame = frame(&state, &session).await;
    let Ok(id) = member.parse::<MemberId>() else { return missing(&frame, "This person is not known here") };
    let body = Body::Vouch { member: id, note: form.note.trim().to_string() };
    let problem = match body.check_fields() {
        Err(error) => super::field_problem(&error).map_or_else(|| error.to_string(), |(_, message)| message),
        Ok(()) => match state.node.publish(body).await {
            Ok(_) => return Redirect::to(&format!("/neighbours?vouched={id}")).into_response(),
            Err(error) => plain_refusal(&state, error),
        },
    };
    let mut problems = Problems::default();
    problems.add("", problem);
    let main = format!(
        "<h1>Vouching did not work</h1>{}<p><a href=\"/neighbours\">Back to neighbours</a></p>",
        problems.summary()
    );
    page_again(&frame, "Vouching did not work", Nav::Neighbours, &main)
}

// --- my profile ---

#[derive(Debug, Default, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    about: String,
    #[serde(default)]
    skills: String,
    #[serde(default)]
    contact: String,
}

fn profile_form(form: &ProfileForm, problems: &Problems, csrf: &str) -> String {
    format!(
        "<h1>My profile</h1><p>This is what your neighbours see about you.</p>{summary}\
<form method=\"post\" action=\"/profile\" novalidate>{csrf}{name}{area}{about}{skills}{contact}\
<button type=\"submit\">Save my profile</button></form>",
        summary = problems.summary(),
        csrf = csrf_input(csrf),
        name = Field::line("name", "Your name", &form.name, limits::PERSON_NAME)
            .hint("The name your neighbours know you by")
            .autocomplete("name")
            .render(problems),
        area = Field::line("area", "Where you live", &form.area, limits::AREA)
            .hint("A street or part of town is enough, for example: Elm Street")
            .optional()
            .render(problems),
        about = Field::text("about", "About you", &form.about, limits::ABOUT).optional().render(problems),
        skills = Field::line("skills", "What you are happy to help with", &form.skills, limits::SKILL * limits::SKILLS)
            .hint("Separate them with commas, for example: shopping, gardening, lifts")
            .optional()
            .render(problems),
        contact = Field::line("contact", "How neighbours can reach you", &form.contact, limits::CONTACT)
            .hint("For example a phone number. Only members of your community see it.")
            .optional()
            .render(problems),
    )
}

/// `GET /profile`.
pub async fn edit_form(State(state): State<WebState>, Extension(session): Extension<Session>) -> Response {
    let frame = frame(&state, &session).await;
    let form = {
        let replica = state.node.replica();
        let me = replica.me();
        match replica.community().and_then(|community| replica.store().profile(community, &me).ok().flatten()) {
            Some(p) => ProfileForm {
                name: p.name,
                area: p.area,
                about: p.about,
                skills: p.skills.join(", "),
                contact: p.contact,
            },
            None => ProfileForm { name: frame.my_name.clone(), ..ProfileForm::default() },
        }
    };
    page(&frame, "My profile", Nav::Profile, &profile_form(&form, &Problems::default(), &session.csrf))
}

/// `POST /profile`.
pub async fn save(
    State(state): State<WebState>,
    Extension(session): Extension<Session>,
    Form(form): Form<ProfileForm>,
) -> Response {
    let mut problems = Problems::default();
    let name = form.name.trim().to_string();
    if name.is_empty() {
        problems.add("name", "Please give your name.");
    }
    let skills: Vec<String> =
        form.skills.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    let body = Body::Profile {
        name,
        about: form.about.trim_end().to_string(),
        area: form.area.trim().to_string(),
        skills,
        contact: form.contact.trim().to_string(),
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
            Ok(_) => {
                let me = state.node.replica().me();
                return Redirect::to(&format!("/neighbours/{me}?saved=1")).into_response();
            }
            Err(error) => problems.add("", plain_refusal(&state, error)),
        }
    }
    let frame = frame(&state, &session).await;
    page_again(&frame, "My profile", Nav::Profile, &profile_form(&form, &problems, &session.csrf))
}

// --- the connection ---

/// `GET /connection`: connected or not, to whom (by name), and what to do.
pub async fn connection(State(state): State<WebState>, Extension(session): Extension<Session>) -> Response {
    let frame = frame(&state, &session).await;
    let peers = state.node.peers().await;
    let (names, computers, reached, admitted, read_only) = {
        let replica = state.node.replica();
        let me = replica.me();
        let community = replica.community();
        let mut names = Vec::new();
        let mut computers = 0;
        for peer in &peers {
            let member = peer
                .member_id
                .as_ref()
                .and_then(|id| id.parse::<MemberId>().ok())
                .and_then(|id| community.and_then(|c| c.member(&id)));
            match member {
                Some(m) if m.profile.is_some() && !m.hub => names.push(m.name()),
                _ => computers += 1,
            }
        }
        names.sort_by_key(|n| n.to_lowercase());
        let admitted = community.and_then(|c| c.member(&me)).is_some_and(|m| m.admitted);
        (names, computers, community.is_some(), admitted, replica.is_read_only())
    };
    let mut main = String::from("<h1>Your connection</h1>");
    main.push_str("<div id=\"connection-detail\" data-live=\"The connection has changed.\">");
    if !reached {
        main.push_str(
            "<p class=\"notice\"><strong>Not connected yet.</strong> This computer has not reached your community yet.</p>",
        );
    } else if peers.is_empty() {
        main.push_str(
            "<p class=\"notice\"><strong>Not connected to your neighbours right now.</strong> You can still look \
             around; anything you post waits here and is sent as soon as Kith connects.</p>",
        );
    } else {
        let mut who = names.iter().map(|n| esc(n)).collect::<Vec<_>>();
        if computers > 0 {
            who.push(if computers == 1 {
                "1 community computer".to_string()
            } else {
                format!("{computers} community computers")
            });
        }
        let _ = write!(
            main,
            "<p class=\"ok\"><strong>{}</strong>: {}.</p><p>What you post reaches them straight away, and they pass it on to the others.</p>",
            esc(&frame.connection),
            who.join(", ")
        );
    }
    if !reached || peers.is_empty() {
        main.push_str(
            "<h2>What you can do</h2><ol class=\"steps\">\
<li>Check this computer is connected to the internet: can you open other websites?</li>\
<li>Leave Kith running. It keeps trying by itself and catches up when it connects.</li>\
<li>If you have only just joined, ask the person who invited you whether their Kith is running.</li>\
<li>If it goes on, ask the person who set Kith up for you, or one of the community's organisers.</li></ol>",
        );
    }
    main.push_str("<h2>Your place in the community</h2>");
    if read_only {
        main.push_str("<p>Kith is fetching your earlier posts and hours from your neighbours. You can post again once it has them.</p>");
    }
    if admitted {
        main.push_str("<p>You are a member: you can post, reply, and thank people with hours.</p>");
    } else {
        main.push_str(
            "<p>You are waiting to be let in. A neighbour who is already a member needs to say they know you: \
             ask the person who invited you.</p>",
        );
    }
    main.push_str("</div>");
    page(&frame, "Your connection", Nav::None, &main)
}
