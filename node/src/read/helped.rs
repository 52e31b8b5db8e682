//! Helped members in the API (issue 15 §2): `POST /api/helped` adds one (`kith member add
//! --helped NAME`), `GET /api/helped` lists those held here, `POST /api/helped/helper` moves one
//! to another helper (`kith member helper NAME --to MEMBER`), `POST /api/helped/take` holds the
//! key handed over by their previous helper (`kith member take`), and the `X-Kith-As` header
//! (`--as MEMBER`) makes any write act for one of them.

use serde::{Deserialize, Serialize};

use kith_protocol::{MemberId, Minutes};

use super::ApiError;
use crate::node::NodeHandle;

/// The header naming the helped member a request acts for (an id, a prefix of it, or a name),
/// percent-encoded UTF-8 (a header carries only visible ASCII): [`encode_acting_for`].
pub const ACTING_FOR_HEADER: &str = "x-kith-as";

/// What the acting-for header carries for `name`: its UTF-8 bytes, every one but ASCII letters
/// and digits percent-encoded ("Zoë" → `Zo%C3%AB`).
pub fn encode_acting_for(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The name an acting-for header carries: every `%` followed by two hex digits, the bytes
/// UTF-8. Anything else is refused, never guessed at.
pub fn decode_acting_for(header: &[u8]) -> Result<String, ApiError> {
    let malformed =
        |why: &str| ApiError::BadRequest(format!("the acting-for header (--as) is not percent-encoded UTF-8: {why}"));
    if let Some(at) = header.iter().position(|b| !b.is_ascii_graphic() && *b != b' ') {
        return Err(malformed(&format!("byte {at} is not visible ASCII")));
    }
    for (at, _) in header.iter().enumerate().filter(|(_, b)| **b == b'%') {
        if !header.get(at + 1..at + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
            return Err(malformed(&format!("the % at byte {at} is not followed by two hex digits")));
        }
    }
    let bytes: Vec<u8> = percent_encoding::percent_decode(header).collect();
    String::from_utf8(bytes).map_err(|_| malformed("its bytes are not UTF-8"))
}

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

/// `POST /api/helped/helper`: `member` (held here) is helped by `to` from now on; the most a
/// payment made for them may be (`limit_minutes`) stays what it was unless given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewHelper {
    pub member: String,
    pub to: String,
    #[serde(default)]
    pub limit_minutes: Option<u32>,
}

/// `POST /api/helped/take`: a helped member's secret key (64 hex digits), handed over by
/// their previous helper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeHelped {
    pub key: String,
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
                held: member
                    .is_none_or(|m| (m.helpers.is_empty() && !file.taken) || m.helper.map(|h| h.member) == Some(me)),
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

/// `POST /api/helped/helper`: writes `Helped { helper: to }` in the helped member's log — the
/// last entry this node writes there (`Replica::publish_as` refuses the next). Their key then
/// goes to the new helper's home (`kith key backup --as` here, `kith member take` there).
pub async fn move_helper(node: &NodeHandle, new: &NewHelper) -> Result<super::wire::Created, ApiError> {
    let member = resolve(node, &new.member)?;
    let to = super::resolve_member(node, &new.to)?;
    let limit = {
        let replica = node.replica();
        let community = super::community(&replica)?;
        let name = |id: &MemberId| super::name_of(community, id);
        let helper = community.member(&member).and_then(|m| m.helper);
        if to == member {
            return Err(ApiError::BadRequest(format!("{} cannot be their own helper", name(&member))));
        }
        if helper.is_some_and(|h| h.member == to) {
            return Err(ApiError::BadRequest(format!("{} is helped by {} already", name(&member), name(&to))));
        }
        if !community.is_member(&to) {
            return Err(ApiError::Refused(format!("{} is not a member yet: a helper must be one", name(&to))));
        }
        let agreed = helper.map_or(DEFAULT_LIMIT, |h| h.limit);
        new.limit_minutes.map_or(agreed, Minutes)
    };
    let body = kith_protocol::Body::Helped { helper: Some(to), limit };
    body.check_fields().map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let entry = node.publish_as(Some(member), body).await.map_err(|e| super::explain(node, e))?;
    tracing::info!(member = %member.short(), to = %to.short(), "moved a helped member to another helper");
    Ok(super::wire::Created { id: entry.hash().to_string() })
}

/// `POST /api/helped/take`: holds a helped member's key handed over by their previous helper,
/// answering their id. This node writes for them only once their log names this member their
/// helper (`Replica::add_helped` with `taken`), so the log never has two writers.
pub fn take(node: &NodeHandle, taken: &TakeHelped) -> Result<super::wire::Created, ApiError> {
    let bad = || ApiError::BadRequest("a helped member's key is 64 hex digits".into());
    let secret: [u8; 32] =
        hex::decode(taken.key.trim()).ok().and_then(|bytes| bytes.try_into().ok()).ok_or_else(bad)?;
    let keypair = kith_protocol::Keypair::from_secret_bytes(secret);
    let member = keypair.member_id();
    let (name, limit) = {
        let replica = node.replica();
        if member == replica.me() {
            return Err(ApiError::BadRequest("this is this home's own key, not a helped member's".into()));
        }
        if replica.holds(&member) {
            return Err(ApiError::BadRequest(format!(
                "{} is held here already",
                replica.community().map_or_else(|| member.short(), |c| super::name_of(c, &member))
            )));
        }
        let community = super::community(&replica)?;
        let found = community.member(&member).filter(|m| m.admitted).ok_or_else(|| {
            ApiError::Refused(format!(
                "member {} is not known here yet: take their key once this node has caught up",
                member.short()
            ))
        })?;
        (found.name(), found.helper.map_or(DEFAULT_LIMIT, |h| h.limit))
    };
    node.home.add_helped(&keypair, &name, limit.0, true).map_err(|e| ApiError::Internal(e.to_string()))?;
    node.replica().add_helped(keypair, true);
    tracing::info!(member = %member.short(), "took a helped member's key from their previous helper");
    Ok(super::wire::Created { id: member.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acting_for_names_travel_percent_encoded() {
        for name in ["Mrs Patel", "Zoë", "Мария", "100% Ann", "a1b2c3"] {
            let header = encode_acting_for(name);
            assert!(header.bytes().all(|b| b.is_ascii_graphic()), "{header}");
            assert_eq!(decode_acting_for(header.as_bytes()).ok().as_deref(), Some(name));
        }
        assert_eq!(encode_acting_for("Zoë"), "Zo%C3%AB");
        // What an older `kith` sent (the name as it is) still reads.
        assert_eq!(decode_acting_for(b"Mrs Patel").ok().as_deref(), Some("Mrs Patel"));
        for bad in [&b"Zo%C3"[..], b"%", b"50%", b"%zz", b"caf\xc3\xa9", b"%FF%FE"] {
            let refused = decode_acting_for(bad);
            assert!(
                matches!(&refused, Err(ApiError::BadRequest(why)) if why.contains("not percent-encoded UTF-8")),
                "{bad:?}: {refused:?}"
            );
        }
    }
}
