//! Short codes for posts, for paper and for speaking aloud: the first characters of the post's
//! hash in Crockford's base32 (digits and capitals without I, L, O and U, so nothing reads as
//! another), four long, and longer only where two posts held here would share one. Reading a
//! code forgives case and ignores dashes and spaces; a word with I, L, O or U in it is no code
//! (so that `lifts` stays a name, not a code).

use std::collections::BTreeMap;

use crate::entry::EntryHash;

/// Crockford's base32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// The shortest code.
pub const MIN_LEN: usize = 4;
/// The longest code (52 characters would spell the whole hash; no two posts need that many).
pub const MAX_LEN: usize = 16;

/// The hash in base32, `len` characters (at most [`MAX_LEN`]).
pub fn encode(hash: &EntryHash, len: usize) -> String {
    let len = len.min(MAX_LEN);
    let mut out = String::with_capacity(len);
    let bits = u128::from_be_bytes(hash.0[..16].try_into().unwrap_or([0; 16]));
    for i in 0..len {
        let index = (bits >> (128 - 5 * (i + 1))) & 31;
        out.push(char::from(ALPHABET[index as usize]));
    }
    out
}

/// A code as typed, made canonical: uppercase, dashes and spaces dropped.
/// `None` when it holds a character no code has, or is shorter than [`MIN_LEN`] or longer
/// than [`MAX_LEN`].
pub fn normalise(text: &str) -> Option<String> {
    let mut out = String::new();
    for c in text.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (MIN_LEN..=MAX_LEN).contains(&out.len()).then_some(out)
}

/// The code of each post among `hashes`: [`MIN_LEN`] characters, longer where two would share
/// one (both get as many characters as tell them apart).
pub fn codes(hashes: impl IntoIterator<Item = EntryHash>) -> BTreeMap<EntryHash, String> {
    let mut sorted: Vec<(String, EntryHash)> = hashes.into_iter().map(|h| (encode(&h, MAX_LEN), h)).collect();
    sorted.sort();
    sorted.dedup();
    let shared = |a: &str, b: &str| a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let mut out = BTreeMap::new();
    for (i, (full, hash)) in sorted.iter().enumerate() {
        let before = i.checked_sub(1).map_or(0, |j| shared(full, &sorted[j].0));
        let after = sorted.get(i + 1).map_or(0, |(next, _)| shared(full, next));
        let len = (before.max(after) + 1).clamp(MIN_LEN, MAX_LEN);
        out.insert(*hash, full[..len].to_string());
    }
    out
}

/// Whether `code` (normalised) names the post `hash`: it is the start of the post's base32.
pub fn matches(hash: &EntryHash, code: &str) -> bool {
    encode(hash, code.len()) == code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(first: &[u8]) -> EntryHash {
        let mut bytes = [0x55; 32];
        bytes[..first.len()].copy_from_slice(first);
        EntryHash(bytes)
    }

    #[test]
    fn codes_are_four_unambiguous_characters() {
        let h = hash(&[0b0000_1000, 0b1000_0110, 0b0100_0000]);
        // 00001 00010 00011 00100 …
        assert_eq!(encode(&h, 4), "1234");
        let code = encode(&hash(&[0xff, 0xff, 0xff]), 4);
        assert_eq!(code, "ZZZZ");
        for _ in 0..3 {
            assert!(encode(&hash(&[7, 99, 200]), 8).chars().all(|c| !"ILOU".contains(c)));
        }
    }

    #[test]
    fn typed_codes_forgive_case_and_look_alikes() {
        assert_eq!(normalise("7kq2").as_deref(), Some("7KQ2"));
        assert_eq!(normalise("01-2 3").as_deref(), Some("0123"));
        assert_eq!(normalise("lifts"), None, "L is no code letter: a word stays a word");
        assert_eq!(normalise("7KU2"), None, "U is no code letter");
        assert_eq!(normalise("7KQ"), None, "too short");
        assert_eq!(normalise("é7KQ2"), None);
    }

    #[test]
    fn colliding_posts_get_longer_codes() {
        let a = hash(&[0, 0, 0, 1]);
        let b = hash(&[0, 0, 0, 2]);
        let c = hash(&[0xff, 0, 0, 0]);
        let codes = codes([a, b, c]);
        assert_eq!(codes[&c].len(), 4);
        assert!(codes[&a].len() > 4 && codes[&b].len() > 4);
        assert_ne!(codes[&a], codes[&b]);
        assert!(matches(&a, &codes[&a]) && !matches(&b, &codes[&a]));
        // Every code is a prefix of no other post's base32.
        for (h, code) in &codes {
            for other in [a, b, c].iter().filter(|o| *o != h) {
                assert!(!matches(other, code), "{code} names two posts");
            }
        }
    }
}
