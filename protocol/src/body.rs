//! What an entry says: the payload bodies, their bounded fields, and the check of those bounds.

use serde::{Deserialize, Serialize};

use crate::entry::EntryHash;
use crate::error::EntryError;
use crate::gathering::Schedule;
use crate::identity::MemberId;
use crate::minutes::Minutes;

/// Largest encoded payload, in bytes (version byte included).
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// Upper bounds of text fields, in bytes of UTF-8. One place, so the CLI and the web page can
/// refuse oversized input before signing anything.
pub mod limits {
    pub const COMMUNITY_NAME: usize = 80;
    pub const DESCRIPTION: usize = 1000;
    pub const PERSON_NAME: usize = 60;
    pub const ABOUT: usize = 1000;
    pub const AREA: usize = 80;
    pub const SKILL: usize = 40;
    pub const SKILLS: usize = 20;
    pub const CONTACT: usize = 200;
    pub const NOTE: usize = 280;
    pub const TITLE: usize = 120;
    pub const DETAILS: usize = 2000;
    pub const CATEGORY: usize = 40;
    pub const WHEN: usize = 120;
    pub const PLACE: usize = 120;
    pub const REPLY: usize = 1000;
    pub const MEMO: usize = 280;
    pub const REASON: usize = 500;
    /// Most vouches a community can ask for before admitting someone.
    pub const MAX_VOUCHES_NEEDED: u8 = 10;
    /// Largest credit limit a community may set (1000 hours).
    pub const MAX_CREDIT_LIMIT_MINUTES: u32 = 1000 * 60;
    /// Largest single transfer (100 hours).
    pub const MAX_TRANSFER_MINUTES: u32 = 100 * 60;
    /// Most buddies a member checked on may name.
    pub const BUDDIES: usize = 5;
    /// Longest quiet spell a member may ask to be checked on after, in days.
    pub const MAX_CHECKIN_DAYS: u16 = 60;
}

/// The community's rules, fixed in its Genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// How far below zero a member's balance may go.
    pub credit_limit: Minutes,
    /// Vouches from members needed to admit a newcomer (the founder's vouch alone also admits,
    /// so that the community can grow past its founder).
    pub vouches_needed: u8,
    /// How long a post stays open unless it says otherwise, in days.
    pub post_lifetime_days: u16,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { credit_limit: Minutes::from_hours(10), vouches_needed: 1, post_lifetime_days: 30 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PostKind {
    Offer,
    Request,
    Gathering,
}

impl PostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PostKind::Offer => "offer",
            PostKind::Request => "request",
            PostKind::Gathering => "gathering",
        }
    }
}

/// A post's status as its author sets it (expiry is derived from time, not stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    Open,
    Done,
    Withdrawn,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Done => "done",
            Status::Withdrawn => "withdrawn",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    Organiser,
    Hub,
}

/// The payload of an entry. Variants are only ever appended, never reordered: postcard encodes
/// the variant index, and signed bytes must keep their meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    Genesis {
        name: String,
        description: String,
        rules: Rules,
    },
    Profile {
        name: String,
        about: String,
        area: String,
        skills: Vec<String>,
        contact: String,
    },
    Vouch {
        member: MemberId,
        note: String,
    },
    Post {
        kind: PostKind,
        title: String,
        details: String,
        category: String,
        when: String,
        place: String,
        /// Ms since the epoch; `None` means the community's default lifetime.
        expires_at: Option<u64>,
        /// A gathering's structured time (offers and requests have none; `when` stays free
        /// text).
        schedule: Option<Schedule>,
    },
    PostStatus {
        post: EntryHash,
        status: Status,
    },
    Reply {
        post: EntryHash,
        text: String,
    },
    Transfer {
        to: MemberId,
        minutes: Minutes,
        memo: String,
        for_post: Option<EntryHash>,
    },
    Receive {
        transfer: EntryHash,
    },
    Redact {
        entry: EntryHash,
    },
    /// Suspends `member` from their entry `after_seq` on (their entries after it are written
    /// while suspended; those up to it stay as they were). Counts when written by an organiser
    /// acting at that point of their own log, until an organiser reinstates them.
    Suspend {
        member: MemberId,
        reason: String,
        after_seq: u64,
    },
    Appoint {
        member: MemberId,
        role: Role,
    },
    /// Withdraws an invite; counts when written by the invite's issuer or an organiser.
    RevokeInvite {
        invite: crate::invite::InviteId,
    },
    /// A newcomer's request to join, the only entry a non-member may write (first of their
    /// log): it carries the invite (its signed capability bytes) that let them in, so an
    /// invite's uses are counted from the join requests that name it.
    JoinRequest {
        #[serde(with = "serde_bytes")]
        invite: Vec<u8>,
        name: String,
    },
    /// Ends the suspension `suspension` (a Suspend entry) from the suspended member's entry
    /// `after_seq` on. Counts when written by an organiser acting at that point of their log.
    Reinstate {
        suspension: EntryHash,
        after_seq: u64,
    },
    /// Removes an organiser's role from their entry `after_seq` on: their moderation after it
    /// counts for nothing. Only the founder writes it.
    Dismiss {
        member: MemberId,
        after_seq: u64,
    },
    /// A notice from an organiser to everyone: it heads the board (and the inbox) until
    /// `until` (ms since the epoch; `None`: the community's post lifetime after it was written).
    Announcement {
        title: String,
        text: String,
        until: Option<u64>,
    },
    // --- gatherings people come to, posts that end (issue 14) ---
    /// "I'll come" (`coming`) or "I can't come after all" to a gathering: to every date of it
    /// (`date: None`) or to one date of a repeating one (a civil day, see
    /// [`crate::gathering`]). The member's latest answer counts.
    Come {
        post: EntryHash,
        date: Option<u32>,
        coming: bool,
    },
    /// The author gives their post another lifetime (the community's `post_lifetime_days`
    /// from this entry's date).
    Renew {
        post: EntryHash,
    },
    /// "If you don't hear from me for `days` days, tell my buddies and the organisers"
    /// (`days: None` turns it off). Signed and gossiped, so every node can raise the alert;
    /// the member's latest one counts.
    CheckIns {
        days: Option<u16>,
        buddies: Vec<MemberId>,
    },
    /// "I'm fine today": activity, like any other entry of the member's.
    CheckIn,
    // --- neighbours without a computer, the directory (issue 15) ---
    /// Written in a helped member's own log (their key lives on the helper's node): `helper`
    /// records for them from here on, and pays from their account at most `limit` at a time,
    /// each payment's memo saying it was on their behalf. `helper: None`: the member holds their
    /// own key again (moved to their own device). The latest one in their log counts.
    Helped {
        helper: Option<MemberId>,
        limit: Minutes,
    },
    /// The member's consent to be listed in the printed directory (name, area, skills, contact),
    /// or its withdrawal. Not listed until they say so; the latest one counts.
    Listing {
        listed: bool,
    },
}

impl Body {
    /// The body's name, for logs and messages.
    pub fn kind_name(&self) -> &'static str {
        Body::kind_name_of(crate::entry::body_kind_index(self))
    }

    /// The name of the kind whose variant index ([`crate::entry::body_kind_index`]) is `index`.
    pub fn kind_name_of(index: u8) -> &'static str {
        const NAMES: [&str; 22] = [
            "genesis",
            "profile",
            "vouch",
            "post",
            "post status",
            "reply",
            "transfer",
            "receive",
            "redact",
            "suspend",
            "appoint",
            "revoke invite",
            "join request",
            "reinstate",
            "dismiss",
            "announcement",
            "come",
            "renew",
            "check-ins",
            "check-in",
            "helped",
            "listing",
        ];
        NAMES.get(usize::from(index)).copied().unwrap_or("unknown kind")
    }

    /// Checks every field's bounds: lengths, required text, single-line fields, amounts.
    pub fn check_fields(&self) -> Result<(), EntryError> {
        use limits::*;
        match self {
            Body::Genesis { name, description, rules } => {
                line("name", name, COMMUNITY_NAME, true)?;
                text("description", description, DESCRIPTION)?;
                if rules.vouches_needed == 0 || rules.vouches_needed > MAX_VOUCHES_NEEDED {
                    return Err(EntryError::BadRules(format!(
                        "vouches needed must be between 1 and {MAX_VOUCHES_NEEDED}, not {}",
                        rules.vouches_needed
                    )));
                }
                if rules.credit_limit.0 > MAX_CREDIT_LIMIT_MINUTES {
                    return Err(EntryError::BadRules(format!(
                        "the credit limit may be at most 1000h, not {}",
                        rules.credit_limit
                    )));
                }
                if rules.post_lifetime_days == 0 {
                    return Err(EntryError::BadRules("posts must live at least one day".into()));
                }
                Ok(())
            }
            Body::Profile { name, about, area, skills, contact } => {
                line("name", name, PERSON_NAME, true)?;
                text("about", about, ABOUT)?;
                line("area", area, AREA, false)?;
                if skills.len() > SKILLS {
                    return Err(EntryError::TooManyItems { field: "skills", count: skills.len(), max: SKILLS });
                }
                for skill in skills {
                    line("skill", skill, SKILL, true)?;
                }
                line("contact", contact, CONTACT, false)
            }
            Body::Vouch { note, .. } => text("note", note, NOTE),
            Body::Post { kind, title, details, category, when, place, schedule, .. } => {
                line("title", title, TITLE, true)?;
                text("details", details, DETAILS)?;
                line("category", category, CATEGORY, false)?;
                line("when", when, WHEN, false)?;
                line("place", place, PLACE, false)?;
                match schedule {
                    Some(_) if *kind != PostKind::Gathering => {
                        Err(EntryError::BadSchedule("only a gathering has a start time".into()))
                    }
                    Some(schedule) => schedule.check(),
                    None => Ok(()),
                }
            }
            Body::Come { .. } | Body::Renew { .. } | Body::CheckIn | Body::Listing { .. } => Ok(()),
            Body::Helped { limit, .. } => {
                if limit.0 > MAX_TRANSFER_MINUTES {
                    return Err(EntryError::TransferTooLarge { minutes: *limit });
                }
                Ok(())
            }
            Body::CheckIns { days, buddies } => {
                if days.is_some_and(|d| d == 0 || d > MAX_CHECKIN_DAYS) {
                    return Err(EntryError::BadCheckIns(format!("days must be between 1 and {MAX_CHECKIN_DAYS}")));
                }
                if buddies.len() > BUDDIES {
                    return Err(EntryError::TooManyItems { field: "buddies", count: buddies.len(), max: BUDDIES });
                }
                if days.is_some() && buddies.is_empty() {
                    return Err(EntryError::BadCheckIns("name at least one buddy".into()));
                }
                Ok(())
            }
            Body::PostStatus { .. }
            | Body::Receive { .. }
            | Body::Redact { .. }
            | Body::Appoint { .. }
            | Body::RevokeInvite { .. }
            | Body::Reinstate { .. }
            | Body::Dismiss { .. } => Ok(()),
            Body::JoinRequest { invite, name } => {
                if invite.len() > crate::invite::MAX_INVITE_BYTES {
                    return Err(EntryError::FieldTooLong {
                        field: "invite",
                        len: invite.len(),
                        max: crate::invite::MAX_INVITE_BYTES,
                    });
                }
                line("name", name, PERSON_NAME, true)
            }
            Body::Reply { text: reply, .. } => {
                text("reply", reply, REPLY)?;
                if reply.trim().is_empty() {
                    return Err(EntryError::EmptyField("reply"));
                }
                Ok(())
            }
            Body::Transfer { minutes, memo, .. } => {
                if minutes.0 == 0 {
                    return Err(EntryError::ZeroTransfer);
                }
                if minutes.0 > MAX_TRANSFER_MINUTES {
                    return Err(EntryError::TransferTooLarge { minutes: *minutes });
                }
                text("memo", memo, MEMO)
            }
            Body::Announcement { title, text: body, .. } => {
                line("title", title, TITLE, true)?;
                text("text", body, DETAILS)
            }
            Body::Suspend { reason, .. } => {
                text("reason", reason, REASON)?;
                if reason.trim().is_empty() {
                    return Err(EntryError::EmptyField("reason"));
                }
                Ok(())
            }
        }
    }
}

/// A multi-line text: bounded, and no control characters but newline and tab.
fn text(field: &'static str, value: &str, max: usize) -> Result<(), EntryError> {
    if value.len() > max {
        return Err(EntryError::FieldTooLong { field, len: value.len(), max });
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(EntryError::ControlCharacter(field));
    }
    Ok(())
}

/// A single-line text: bounded, no control characters, and not blank when `required`.
fn line(field: &'static str, value: &str, max: usize, required: bool) -> Result<(), EntryError> {
    if value.len() > max {
        return Err(EntryError::FieldTooLong { field, len: value.len(), max });
    }
    if value.chars().any(char::is_control) {
        return Err(EntryError::ControlCharacter(field));
    }
    if required && value.trim().is_empty() {
        return Err(EntryError::EmptyField(field));
    }
    Ok(())
}
