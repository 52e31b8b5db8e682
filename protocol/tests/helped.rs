//! Helped members (issue 15 §2): a member whose key lives on a helper's node. The link is
//! signed in the helped member's own log (`Helped`), so every node sees who records for them,
//! and what a helper may not do is a rule: pay from the account beyond the limit the member
//! agreed, or without the memo saying it was on their behalf.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use kith_protocol::rules::ON_BEHALF;
use kith_protocol::{Body, Community, EntryError, ForkProof, Minutes, Outcome, Wait};

fn helped(helper: Option<kith_protocol::MemberId>, limit: u32) -> Body {
    Body::Helped { helper, limit: Minutes(limit) }
}

fn pay(to: kith_protocol::MemberId, minutes: u32, memo: &str) -> Body {
    Body::Transfer { to, minutes: Minutes(minutes), memo: memo.into(), for_post: None }
}

#[test]
fn a_payment_for_a_helped_member_beyond_the_limit_they_agreed_is_refused() {
    let mut town = Town::new(rules());
    let ada = town.admit(2, "Ada");
    let mut patel = town.admit(3, "Mrs Patel");
    let dan = town.admit(4, "Dan");
    town.act(&mut patel, helped(Some(ada.id()), 120));
    let member = town.community.member(&patel.id()).unwrap();
    assert_eq!(member.helper.map(|h| (h.member, h.limit)), Some((ada.id(), Minutes(120))));

    let memo = format!("{ON_BEHALF}Mrs Patel, by Ada: the shopping");
    let outcome = town.judge(&patel.next(pay(dan.id(), 121, &memo)));
    let Outcome::Rejected(error) = outcome else { panic!("expected a rejection, got {outcome:?}") };
    assert_eq!(
        error,
        EntryError::HelpedOverLimit { name: "Mrs Patel".into(), minutes: Minutes(121), limit: Minutes(120) }
    );
    assert_eq!(error.to_string(), "Mrs Patel agreed to payments of at most 2h made for them, not 2h1m");
    // At the limit, with the memo saying so, it counts.
    town.act(&mut patel, pay(dan.id(), 120, &memo));
    assert_eq!(town.balance(&patel.id()), -120);
}

#[test]
fn a_payment_for_a_helped_member_must_say_it_was_on_their_behalf() {
    let mut town = Town::new(rules());
    let ada = town.admit(2, "Ada");
    let mut patel = town.admit(3, "Mrs Patel");
    let dan = town.admit(4, "Dan");
    town.act(&mut patel, helped(Some(ada.id()), 120));
    let outcome = town.feed(&patel.next(pay(dan.id(), 30, "the shopping")));
    assert_eq!(outcome, Outcome::Rejected(EntryError::HelpedMemo { name: "Mrs Patel".into() }));
}

#[test]
fn a_member_back_on_their_own_device_pays_as_anyone_does() {
    let mut town = Town::new(rules());
    let ada = town.admit(2, "Ada");
    let mut patel = town.admit(3, "Mrs Patel");
    let dan = town.admit(4, "Dan");
    let first = town.act(&mut patel, helped(Some(ada.id()), 60));
    town.act(&mut patel, helped(None, 0));
    let own = town.act(&mut patel, pay(dan.id(), 300, "the garden"));
    let member = town.community.member(&patel.id()).unwrap();
    assert_eq!(member.helper, None);
    // Who recorded each entry stays what it was at that point of the log.
    assert_eq!(member.helper_at(first.seq()), Some(ada.id()));
    assert_eq!(member.helper_at(first.seq() - 1), None);
    assert_eq!(member.helper_at(own.seq()), None);
}

#[test]
fn a_post_written_for_a_helped_member_names_their_helper() {
    let mut town = Town::new(rules());
    let ada = town.admit(2, "Ada");
    let mut patel = town.admit(3, "Mrs Patel");
    let before = town.act(&mut patel, post("Seedlings to give away"));
    town.act(&mut patel, helped(Some(ada.id()), 60));
    let for_her = town.act(&mut patel, post("A lift to the surgery, please"));
    town.act(&mut patel, helped(None, 0));
    let own = town.act(&mut patel, post("Tomatoes to share"));
    let helper_of = |entry: &kith_protocol::Entry| town.community.post(&entry.hash()).map(|p| p.helped_by);
    assert_eq!(helper_of(&before), Some(None));
    assert_eq!(helper_of(&for_her), Some(Some(ada.id())));
    assert_eq!(helper_of(&own), Some(None));
}

#[test]
fn the_helpers_limit_binds_the_frozen_branches_of_a_forked_helped_log() {
    let mut town = Town::new(rules());
    let ada = town.admit(2, "Ada");
    let mut patel = town.admit(3, "Mrs Patel");
    let dan = town.admit(4, "Dan");
    town.act(&mut patel, helped(Some(ada.id()), 120));
    let memo = format!("{ON_BEHALF}Mrs Patel, by Ada: the shopping");
    let before = patel.clone();
    // Her log forks after the link to Ada: one branch pays within the limit, one posts.
    let kept = town.act(&mut patel, pay(dan.id(), 60, &memo));
    let other = before.clone().write(post("Lifts"));
    let proof = ForkProof::new(&kept, &other);
    let mut forked = Community::rebuild_held(&town.genesis, &[proof], &town.applied, NOW).unwrap().community;
    assert_eq!(forked.member(&patel.id()).unwrap().frozen_at, Some(kept.seq()));
    assert_eq!(forked.member(&patel.id()).unwrap().forked_debt_minutes, 60, "a frozen payment within it counts");

    // More branches at the same place: a payment beyond what she agreed, one not saying for
    // whom. Within the credit limit, so only the helper's rule refuses them.
    let over = before.clone().write(pay(dan.id(), 300, &memo));
    let (outcome, _) = forked.ingest(over, NOW);
    assert_eq!(
        outcome,
        Outcome::Rejected(EntryError::HelpedOverLimit {
            name: "Mrs Patel".into(),
            minutes: Minutes(300),
            limit: Minutes(120)
        })
    );
    let unsaid = before.clone().write(pay(dan.id(), 30, "the shopping"));
    let (outcome, _) = forked.ingest(unsaid, NOW);
    assert_eq!(outcome, Outcome::Rejected(EntryError::HelpedMemo { name: "Mrs Patel".into() }));
    let member = forked.member(&patel.id()).unwrap();
    assert_eq!((member.balance_minutes, member.forked_debt_minutes), (-60, 60));
    assert_eq!(forked.member(&dan.id()).unwrap().balance_minutes, 0, "nothing claimed yet");
}

#[test]
fn a_member_is_not_their_own_helper_and_a_helper_must_be_a_member() {
    let mut town = Town::new(rules());
    let patel = town.admit(3, "Mrs Patel");
    assert_eq!(town.feed(&patel.next(helped(Some(patel.id()), 60))), Outcome::Rejected(EntryError::SelfHelp));
    let stranger = town.log(9);
    let outcome = town.feed(&patel.next(helped(Some(stranger.id()), 60)));
    assert_eq!(outcome, Outcome::Pending(Wait::Admission { member: stranger.id() }));
}

#[test]
fn consent_to_the_directory_is_the_members_latest_word() {
    let mut town = Town::new(rules());
    let mut bob = town.admit(2, "Bob");
    assert!(!town.community.member(&bob.id()).unwrap().listed, "nobody is listed by default");
    town.act(&mut bob, Body::Listing { listed: true });
    assert!(town.community.member(&bob.id()).unwrap().listed);
    town.act(&mut bob, Body::Listing { listed: false });
    assert!(!town.community.member(&bob.id()).unwrap().listed);
}
