//! Announcements: only organisers' count (a member's waits, unseen, until they are appointed),
//! they head the board until they end, and their fields are bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use kith_protocol::{Body, EntryError, Outcome, Role, Wait};

fn announcement(title: &str, until: Option<u64>) -> Body {
    Body::Announcement { title: title.into(), text: "The hall is closed on Monday.".into(), until }
}

#[test]
fn a_members_announcement_waits_for_an_appointment_and_is_not_shown() {
    let mut town = Town::new(rules());
    let mut bob = town.admit(2, "Bob");
    let notice = bob.write(announcement("Hall closed", None));
    assert_eq!(town.feed(&notice), Outcome::Pending(Wait::Appointment { member: bob.id() }));
    assert!(town.community.announcement(&notice.hash()).is_none());
    assert!(town.community.current_announcements(NOW).is_empty());
    // Appointed later (on another node the appointment may arrive first): then it counts.
    let mut founder = town.founder.clone();
    let (_, report) = town.community.ingest(founder.write(appoint(bob.id(), Role::Organiser)), NOW);
    assert_eq!(report.applied.last(), Some(&notice));
    assert_eq!(town.community.current_announcements(notice.timestamp_ms()).len(), 1);
}

#[test]
fn an_organisers_announcement_heads_the_board_until_it_ends() {
    let mut town = Town::new(rules());
    let mut founder = town.founder.clone();
    let ends = T0 + 10 * STEP_MS;
    let first = town.act(&mut founder, announcement("Hall closed", Some(ends)));
    let second = town.act(&mut founder, announcement("Soup on Sunday", None));
    let at = second.timestamp_ms();
    let shown: Vec<_> = town.community.current_announcements(at).into_iter().map(|(h, _)| h).collect();
    assert_eq!(shown, [second.hash(), first.hash()], "newest first");
    let later: Vec<_> = town.community.current_announcements(ends).into_iter().map(|(h, _)| h).collect();
    assert_eq!(later, [second.hash()], "the first has ended");
    // Without `until` it lasts the community's post lifetime.
    let lifetime = u64::from(rules().post_lifetime_days) * 24 * 3600 * 1000;
    assert!(town.community.current_announcements(at + lifetime).is_empty());
    // Its author may take it down.
    town.act(&mut founder, redact(second.hash()));
    let left: Vec<_> = town.community.current_announcements(at).into_iter().map(|(h, _)| h).collect();
    assert_eq!(left, [first.hash()]);
}

#[test]
fn an_announcement_needs_a_title_and_bounded_text() {
    assert_eq!(announcement(" ", None).check_fields(), Err(EntryError::EmptyField("title")));
    let long = Body::Announcement { title: "Hi".into(), text: "x".repeat(2001), until: None };
    assert_eq!(long.check_fields(), Err(EntryError::FieldTooLong { field: "text", len: 2001, max: 2000 }));
    assert_eq!(announcement("Hall closed", None).kind_name(), "announcement");
}
