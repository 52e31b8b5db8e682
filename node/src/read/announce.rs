//! Announcements as the API, the CLI, the board and the inbox show them: `POST /api/announcements`
//! (organisers only, a rule of the protocol) and `GET /api/announcements` (the current ones).
//! [`current`] is the one list the board and the inbox head with.

use serde::{Deserialize, Serialize};

use kith_protocol::{Body, Community};

use super::wire::rfc3339;
use super::{ApiError, name_of};
use crate::replica::Replica;

/// `POST /api/announcements`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAnnouncement {
    pub title: String,
    #[serde(default)]
    pub text: String,
    /// Ms since the epoch; absent: the community's post lifetime.
    #[serde(default)]
    pub until_ms: Option<u64>,
}

/// One announcement as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncementOut {
    pub id: String,
    pub title: String,
    pub text: String,
    pub author: String,
    pub author_name: String,
    pub created_at: String,
    pub created_at_ms: u64,
    pub until: String,
    pub until_ms: u64,
}

impl NewAnnouncement {
    /// The entry body, its fields checked (a 400 when one breaks a bound).
    pub fn body(&self, now: u64) -> Result<Body, ApiError> {
        if self.until_ms.is_some_and(|until| until <= now) {
            return Err(ApiError::BadRequest(format!(
                "an announcement must last until a time still to come, not {}",
                rfc3339(self.until_ms.unwrap_or_default())
            )));
        }
        let body = Body::Announcement {
            title: self.title.trim().to_string(),
            text: self.text.trim().to_string(),
            until: self.until_ms,
        };
        body.check_fields().map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Ok(body)
    }
}

/// The announcements shown at `now`, newest first, with their texts (read from the entries).
/// What the board heads with; the inbox should list the same.
pub fn current(replica: &Replica, community: &Community, now: u64) -> Vec<AnnouncementOut> {
    let mut out = Vec::new();
    for (hash, announcement) in community.current_announcements(now) {
        let Ok(Some(entry)) = replica.store().get(&hash) else {
            tracing::warn!(entry = %hash, "an applied announcement is not in the store");
            continue;
        };
        let Body::Announcement { title, text, .. } = entry.body() else { continue };
        out.push(AnnouncementOut {
            id: hash.to_string(),
            title: title.clone(),
            text: text.clone(),
            author: announcement.author.to_string(),
            author_name: name_of(community, &announcement.author),
            created_at: rfc3339(announcement.created_at_ms),
            created_at_ms: announcement.created_at_ms,
            until: rfc3339(announcement.until_ms),
            until_ms: announcement.until_ms,
        });
    }
    out
}
