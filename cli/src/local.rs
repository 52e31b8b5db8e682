//! The commands that work on the home folder with no node running: `init`, `community
//! create`, `join`, `key backup` and `key restore`.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, bail};

use kith_node::clock::now_ms;
use kith_node::home::Home;
use kith_node::invite::Invite;
use kith_node::offline;
use kith_protocol::{Keypair, Rules};

use crate::output::Local;
use crate::validate::UsageError;

/// Number of words of a backup (BIP39, 256 bits of key).
pub const BACKUP_WORDS: usize = 24;

fn community_of(home: &Home) -> Result<Option<String>> {
    Ok(home.config()?.community)
}

/// `kith init`: a new key, and the name to introduce this member with.
pub fn init(home: &Home, name: Option<String>) -> Result<Local> {
    let keypair = home.create_key()?;
    if let Some(name) = &name {
        let mut config = home.config()?;
        config.join_name = Some(name.clone());
        home.write_config(&config)?;
    }
    Ok(Local::Key { member_id: keypair.member_id().to_string(), name })
}

/// `kith community create`: the Genesis of a new community, written into this home's store.
pub fn create_community(home: &Home, name: &str, description: &str, rules: Rules) -> Result<Local> {
    if let Some(community) = community_of(home)? {
        bail!("this home already belongs to community {community}; use another --home for another community");
    }
    let keypair = home.key_or_create()?;
    let member_id = keypair.member_id().to_string();
    let community_id = offline::found_community(home, keypair, name, description, rules)?.to_string();
    let mut config = home.config()?;
    config.community = Some(community_id.clone());
    home.write_config(&config)?;
    Ok(Local::Community { community_id, community_name: name.to_string(), member_id })
}

/// `kith join`: remembers the invite's community, addresses and this member's name; the node
/// sends the join request when it runs.
pub fn join(home: &Home, invite: &Invite, text: &str, name: Option<String>) -> Result<Local> {
    invite.check_expiry(now_ms())?;
    let mut config = home.config()?;
    if let Some(community) = &config.community {
        if *community == invite.community.to_string() {
            bail!("this home is already joining or in this community; start it with `kith run`");
        }
        bail!("this home already belongs to community {community}; use another --home to join another");
    }
    let name = name.or_else(|| config.join_name.clone());
    if name.is_none() && !config.restored {
        return Err(UsageError("give your name with --name: it is how the community will know you".into()).into());
    }
    let keypair = home.key_or_create()?;
    if keypair.member_id() == invite.inviter() {
        bail!("this invite was made by this home's own key; use it on another home");
    }
    config.community = Some(invite.community.to_string());
    config.join_name = if config.restored { None } else { name.clone() };
    config.join_timestamp_ms = Some(now_ms());
    config.bootstrap = invite.addrs.clone();
    config.invite = Some(text.to_string());
    home.write_config(&config)?;
    Ok(Local::Joined {
        member_id: keypair.member_id().to_string(),
        community_id: invite.community.to_string(),
        name,
        addrs: invite.addrs.clone(),
    })
}

/// `kith key backup`: the key's 32 secret bytes as 24 BIP39 words.
pub fn backup(home: &Home, acting_as: Option<&str>) -> Result<Local> {
    let keypair = match acting_as {
        Some(name) => helped_key(home, name)?,
        None => match home.key()? {
            Some(keypair) => keypair,
            None => bail!("this home has no key yet: create one with `kith init` (or `kith run`)"),
        },
    };
    let mnemonic = bip39::Mnemonic::from_entropy(&keypair.secret_bytes()).context("cannot write the key as words")?;
    if std::io::stdout().is_terminal() {
        eprintln!("Write these {BACKUP_WORDS} words on paper and keep them safe: anyone who has them can act as you.");
    }
    Ok(Local::Words {
        member_id: keypair.member_id().to_string(),
        words: mnemonic.words().map(str::to_string).collect(),
    })
}

/// The key of the helped member held in `home` that `text` names (their name, or their id or a
/// prefix of it), for `kith key backup --as NAME`.
fn helped_key(home: &Home, text: &str) -> Result<Keypair> {
    let text = text.trim();
    match home.find_helped(text)?.as_slice() {
        [(key, _)] => Ok(key.clone()),
        [] => Err(UsageError(format!("`{text}` is not a helped member held in this home")).into()),
        _ => Err(UsageError(format!("more than one helped member here matches `{text}`: give more of the id")).into()),
    }
}

/// `kith key restore`: the key back from its words, into an empty home. The node then stays
/// read-only until it has fetched this member's own log from a peer.
pub fn restore(home: &Home, words: Vec<String>) -> Result<Local> {
    if home.has_key() {
        bail!("this home already has a key; restore into an empty home (use --home DIR)");
    }
    if home.db_path().exists() {
        bail!("this home already has a database; restore into an empty home (use --home DIR)");
    }
    let keypair = Keypair::from_secret_bytes(secret_from_words(words)?);
    home.write_key(&keypair)?;
    let mut config = home.config()?;
    config.restored = true;
    home.write_config(&config)?;
    Ok(Local::Restored { member_id: keypair.member_id().to_string(), home: home.dir().display().to_string() })
}

/// The secret key the words of a backup hold (typed on stdin when none are given).
fn secret_from_words(words: Vec<String>) -> Result<[u8; 32]> {
    let words = if words.is_empty() { read_words()? } else { words };
    let phrase = backup_words(&words).join(" ");
    let count = phrase.split(' ').filter(|w| !w.is_empty()).count();
    if count != BACKUP_WORDS {
        return Err(UsageError(format!("a key backup is {BACKUP_WORDS} words; {count} were given")).into());
    }
    let mnemonic = bip39::Mnemonic::parse_normalized(&phrase)
        .map_err(|e| UsageError(format!("these words are not a key backup: {e}")))?;
    let (entropy, len) = mnemonic.to_entropy_array();
    Ok(entropy
        .get(..len)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| UsageError(format!("a key backup is {BACKUP_WORDS} words")))?)
}

/// `kith member take`: a helped member's key from the words their previous helper's home
/// printed (`kith key backup --as NAME`), as the node's API takes it (hex).
pub fn key_from_words(words: Vec<String>) -> Result<String> {
    Ok(secret_from_words(words)?.iter().map(|b| format!("{b:02x}")).collect())
}

/// Progress lines of `kith repair`: one every this many entries.
const REPAIR_PROGRESS_EVERY: usize = 10_000;

/// `kith repair`: rebuilds every view from the entry file, the node stopped (the store's lock
/// says if it runs). Opening the store first finishes whatever a crash left (a torn entry file,
/// damaged sled files moved aside). Progress goes to stderr.
pub fn repair(home: &Home) -> Result<Local> {
    let mut next = REPAIR_PROGRESS_EVERY;
    let started = |total| eprintln!("rebuilding the views of {total} entries…");
    let entries = offline::repair(home, started, &mut |done, total| {
        if done >= next && done < total {
            eprintln!("  {done} of {total} entries");
            next = done - done % REPAIR_PROGRESS_EVERY + REPAIR_PROGRESS_EVERY;
        }
    })?;
    eprintln!("rebuilt the views of {entries} entries");
    Ok(Local::Repaired { entries })
}

/// The words typed, without the numbers `kith key backup` prints before them.
fn backup_words(words: &[String]) -> Vec<String> {
    words
        .iter()
        .flat_map(|w| w.split_whitespace())
        .filter(|w| !w.trim_end_matches('.').chars().all(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
        .collect()
}

fn read_words() -> Result<Vec<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Type the {BACKUP_WORDS} words of your key backup, then press Enter twice:");
    }
    let mut words = Vec::new();
    for line in stdin.lock().lines() {
        let line = line.context("cannot read the words")?;
        if line.trim().is_empty() && !words.is_empty() {
            break;
        }
        words.push(line);
        if backup_words(&words).len() >= BACKUP_WORDS {
            break;
        }
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_words_drop_the_numbering() {
        let typed = vec![" 1. abandon  2. ability".to_string(), "3 able".to_string()];
        assert_eq!(backup_words(&typed), vec!["abandon", "ability", "able"]);
    }
}
