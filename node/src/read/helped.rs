//! Helped members in the API (issue 15 §2): `POST /api/helped` adds one (`kith member add
//! --helped NAME`), `GET /api/helped` lists those held here, and the `X-Kith-As` header (`--as
//! MEMBER`) makes any write act for one of them.

use serde::{Deserialize, Serialize};

use kith_protocol::{MemberId, Minutes};

use super::ApiError;
use crate::node::NodeHandle;

/// The header naming the helped member a request acts for (an id, a prefix of it, or a name).
pub const ACTING_FOR_HEADER: &str = "x-kith-as";

/// What a helper agrees with a helped member by default: payments made for them of at most
/// 2 hours each.
pub const DEFAULT_LIMIT: Minutes = Minutes(120);

/// `POST /api/helped`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewHelped {
    pub name: String,
    /// The most a payment made for them may be, in minutes (default 2 hours).
    #[serde(default)]
    pub limit_minutes: Option<u32>,
}

/// A helped member held in this home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelpedOut {
    pub member_id: String,
    pub name: String,
    pub limit_minutes: u32,
    /// Admitted by the community yet.
    pub admitted: bool,
    /// This node still records for them (not moved to their own device or another helper).
    pub held: bool,
}

/// The helped members held here, by name.
pub fn list(node: &NodeHandle) -> Result<Vec<HelpedOut>, ApiError> {
    let held = node.home.helped().map_err(|e| ApiError::Internal(e.to_string()))?;
    let replica = node.replica();
    let me = replica.me();
    let community = replica.community();
    Ok(held
        .into_iter()
        .map(|(key, file)| {
            let member = community.and_then(|c| c.member(&key.member_id()));
            HelpedOut {
                member_id: key.member_id().to_string(),
                name: member.map_or(file.name, |m| m.name()),
                limit_minutes: file.limit_minutes,
                admitted: member.is_some_and(|m| m.admitted),
                held: member.is_none_or(|m| m.helpers.is_empty() || m.helper.map(|h| h.member) == Some(me)),
            }
        })
        .collect())
}

/// The helped member held here that `text` names (id, prefix of it, or name), for `--as`.
pub fn resolve(node: &NodeHandle, text: &str) -> Result<MemberId, ApiError> {
    let text = text.trim();
    let found = node.home.find_helped(text).map_err(|e| ApiError::Internal(e.to_string()))?;
    match found.as_slice() {
        [(key, _)] => Ok(key.member_id()),
        [] => Err(ApiError::BadRequest(format!(
            "`{text}` is not a helped member held in this home (add one with `kith member add --helped NAME`)"
        ))),
        _ => {
            Err(ApiError::BadRequest(format!("more than one helped member here matches `{text}`: give more of the id")))
        }
    }
}

/// `POST /api/helped`: the new member's id.
pub async fn add(node: &NodeHandle, new: &NewHelped) -> Result<super::wire::Created, ApiError> {
    let name = new.name.trim();
    let limit = Minutes(new.limit_minutes.unwrap_or(DEFAULT_LIMIT.0));
    kith_protocol::Body::Helped { helper: None, limit }
        .check_fields()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    kith_protocol::Body::Profile {
        name: name.to_string(),
        about: String::new(),
        area: String::new(),
        skills: Vec::new(),
        contact: String::new(),
    }
    .check_fields()
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    match crate::helped::add(node, name, limit).await {
        Ok(member) => Ok(super::wire::Created { id: member.to_string() }),
        Err(crate::helped::AddError::NotAMember) => {
            Err(ApiError::Refused("only members can add a helped member, and you are not one yet".into()))
        }
        Err(crate::helped::AddError::Publish(error)) => Err(super::explain(node, error)),
        Err(error) => Err(ApiError::Internal(error.to_string())),
    }
}
