//! Naming things the way people do: a member by full id, unique id prefix or a display name
//! only one person has; a post by full id, unique prefix or short code. Ambiguity is an error that lists
//! the candidates, never a guess.

use kith_protocol::{Community, EntryHash, MemberId};

/// Most candidates listed in an "ambiguous" message.
const MAX_LISTED: usize = 8;

/// Why a name did not lead to exactly one thing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Unknown(String),
    #[error("{0}")]
    Ambiguous(String),
}

fn is_hex(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn listed(candidates: &[String]) -> String {
    let mut text = candidates.iter().take(MAX_LISTED).cloned().collect::<Vec<_>>().join(", ");
    if candidates.len() > MAX_LISTED {
        text.push_str(&format!(" and {} more", candidates.len() - MAX_LISTED));
    }
    text
}

/// The member `text` names: everyone this node knows (members, newcomers, hubs) whose id
/// starts with `text` (hex, any case) or whose display name is `text` (ignoring case).
pub fn member(community: &Community, text: &str) -> Result<MemberId, ResolveError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ResolveError::Malformed("no member given: name one by name or id".into()));
    }
    let prefix = text.to_ascii_lowercase();
    let by_prefix = is_hex(&prefix);
    let matches: Vec<(MemberId, String)> = community
        .members()
        .filter(|(id, m)| {
            (by_prefix && id.to_string().starts_with(&prefix))
                || m.profile.as_ref().is_some_and(|p| !p.redacted && p.name.eq_ignore_ascii_case(text))
        })
        .map(|(id, m)| (*id, m.name()))
        .collect();
    match matches.as_slice() {
        [(id, _)] => Ok(*id),
        [] => Err(ResolveError::Unknown(format!(
            "no member is called `{text}` or has an id starting with it; `kith members` lists them"
        ))),
        many => {
            let names: Vec<String> = many.iter().map(|(id, name)| format!("{name} ({})", id.short())).collect();
            Err(ResolveError::Ambiguous(format!(
                "`{text}` could be {} people: {}; give more of the id",
                many.len(),
                listed(&names)
            )))
        }
    }
}

/// The post `text` names: a full id or a unique prefix among the posts shown here, or its
/// short code ([`kith_protocol::shortcode`], as printed on the paper board: `7KQ2`).
pub fn post(community: &Community, text: &str) -> Result<EntryHash, ResolveError> {
    let prefix = text.trim().to_ascii_lowercase();
    let code = kith_protocol::shortcode::normalise(text.trim());
    let by_prefix = is_hex(&prefix) && prefix.len() <= 64;
    if !by_prefix && code.is_none() {
        return Err(ResolveError::Malformed(format!(
            "`{}` is not a post id: a post is named by its id, the first digits of it (0-9, a-f) or its short code",
            text.trim()
        )));
    }
    let matches: Vec<EntryHash> = community
        .posts()
        .filter(|(hash, post)| {
            community.post_visible(post)
                && ((by_prefix && hash.to_string().starts_with(&prefix))
                    || code.as_deref().is_some_and(|c| kith_protocol::shortcode::matches(hash, c)))
        })
        .map(|(hash, _)| hash)
        .collect();
    match matches.as_slice() {
        [hash] => Ok(*hash),
        [] => Err(ResolveError::Unknown(format!(
            "no post has an id starting with `{prefix}`; `kith board --all` lists them"
        ))),
        many => {
            let ids: Vec<String> = many.iter().map(EntryHash::short).collect();
            Err(ResolveError::Ambiguous(format!(
                "`{prefix}` is the start of {} posts' ids: {}; give more of the id",
                many.len(),
                listed(&ids)
            )))
        }
    }
}
