//! Helped members (issue 15 §2): neighbours without a computer whose keys live in a helper's
//! home. Each has their own key and log; this node signs in it only when asked to act for
//! them (`--as`, the page's "acting for" switch), and the community's rules (the `Helped`
//! entry in their log, `rules::helped_payment`) say what a helper may not do.
//!
//! What this module adds to the node: the acting-for scope a request runs in, adding a helped
//! member (a fresh key kept in the home, their join request with an invite of ours), and the
//! background care of their logs (the `Helped` link once they are admitted, claims of hours
//! paid to them; and on their own device, once it may write, that they hold their key again).

use std::time::Duration;

use kith_protocol::rules::ON_BEHALF;
use kith_protocol::{Body, Keypair, MemberId, Minutes};

use crate::clock::now_ms;
use crate::node::NodeHandle;
use crate::replica::{PublishError, Replica};

tokio::task_local! {
    /// The helped member the current request acts for.
    static ACTING_FOR: MemberId;
}

/// The helped member the current request acts for, if any.
pub fn acting_for() -> Option<MemberId> {
    ACTING_FOR.try_with(|member| *member).ok()
}

/// Runs `future` acting for `member` (`None`: as this node's own member).
pub async fn scope<F: std::future::Future>(member: Option<MemberId>, future: F) -> F::Output {
    match member {
        Some(member) => ACTING_FOR.scope(member, future).await,
        None => future.await,
    }
}

/// The memo of a payment made for a helped member says so, naming both: "on behalf of Mrs
/// Patel, by Ada: …" (the rule checks the prefix). Other bodies are unchanged.
pub fn on_behalf(replica: &Replica, author: MemberId, body: Body) -> Body {
    match body {
        Body::Transfer { to, minutes, memo, for_post } if author != replica.me() && !memo.starts_with(ON_BEHALF) => {
            let name =
                |id: &MemberId| replica.community().and_then(|c| c.member(id)).map_or_else(|| id.short(), |m| m.name());
            let said = if memo.trim().is_empty() { String::new() } else { format!(": {memo}") };
            let memo = format!("{ON_BEHALF}{}, by {}{said}", name(&author), name(&replica.me()));
            Body::Transfer { to, minutes, memo, for_post }
        }
        other => other,
    }
}

/// Why a helped member could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("only members can add a helped member, and you are not one yet")]
    NotAMember,
    #[error("{0}")]
    Home(#[from] crate::home::HomeError),
    #[error("{0}")]
    Publish(#[from] PublishError),
    #[error("cannot read random bytes: {0}")]
    Random(String),
}

/// Adds a helped member: a fresh key kept in this home (0600), and their join request carrying
/// a one-use invite of this member's, so the community is asked to admit them (vouched as
/// usual). `limit`: the most a payment made for them may be, as they agreed.
pub async fn add(node: &NodeHandle, name: &str, limit: Minutes) -> Result<MemberId, AddError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| AddError::Random(e.to_string()))?;
    let keypair = Keypair::from_secret_bytes(secret);
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| AddError::Random(e.to_string()))?;
    let invite = {
        let replica = node.replica();
        let community = replica.community().ok_or(AddError::NotAMember)?;
        if !community.is_member(&replica.me()) {
            return Err(AddError::NotAMember);
        }
        let expires = now_ms().saturating_add(7 * 24 * 3600 * 1000);
        kith_protocol::invite::Capability::issue(replica.keypair(), community.id(), nonce, expires, 1)
    };
    node.home.add_helped(&keypair, name, limit.0, false)?;
    let member = keypair.member_id();
    node.replica().add_helped(keypair, false);
    node.publish_as(Some(member), Body::JoinRequest { invite: invite.to_bytes(), name: name.to_string() }).await?;
    tracing::info!(member = %member.short(), "added a helped member");
    Ok(member)
}

/// What a node does by itself for the logs it holds, every second: writes a helped member's
/// `Helped` link naming this member once they are admitted (their limit from the home), claims
/// hours paid to them; and, on the member's own device (their key restored here), once it may
/// write, says they hold their own key again.
pub async fn tend(node: NodeHandle) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = node.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for (author, body) in due(&node) {
            if let Err(error) = node.publish_as(author, body).await {
                tracing::debug!(%error, "cannot write for a helped member yet");
            }
        }
    }
}

/// The entries [`tend`] should write now: (whose log, what).
fn due(node: &NodeHandle) -> Vec<(Option<MemberId>, Body)> {
    let limits: Vec<(MemberId, u32, bool)> = match node.home.helped() {
        Ok(held) => held.iter().map(|(key, file)| (key.member_id(), file.limit_minutes, file.taken)).collect(),
        Err(error) => {
            tracing::warn!(%error, "cannot read the helped members' keys");
            Vec::new()
        }
    };
    let replica = node.replica();
    let Some(community) = replica.community() else { return Vec::new() };
    let me = replica.me();
    let mut due = Vec::new();
    for (member, limit, taken) in limits {
        let Some(found) = community.member(&member).filter(|m| m.admitted) else { continue };
        // A key handed over by another helper never writes the first link: theirs is there.
        if found.helpers.is_empty() && !taken {
            due.push((Some(member), Body::Helped { helper: Some(me), limit: Minutes(limit) }));
        } else if found.helper.map(|h| h.member) == Some(me) {
            for transfer in replica.unclaimed_for(member) {
                due.push((Some(member), Body::Receive { transfer }));
            }
        }
    }
    if !replica.is_read_only() && community.member(&me).is_some_and(|m| m.helper.is_some()) {
        due.push((None, Body::Helped { helper: None, limit: Minutes(0) }));
    }
    due
}
