//! Matching, both ways: whether a member might help with a request, from the skills on their
//! profile and their open offers, and why ("because you offer: shopping"). Deterministic and
//! explainable: the same texts give the same answer on every node; no ranking, no history.

use crate::entry::EntryHash;

/// A request's words.
#[derive(Debug, Clone, Copy)]
pub struct Need<'a> {
    pub title: &'a str,
    pub details: &'a str,
    pub category: &'a str,
}

/// One of a member's open offers.
#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    pub post: EntryHash,
    pub title: &'a str,
    pub category: &'a str,
}

/// Why a member might help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A skill on their profile is the request's category or is in its words.
    Skill(String),
    /// One of their open offers is of the request's category or shares a word with its title.
    Offer { post: EntryHash, title: String },
}

impl Reason {
    /// "because you offer: shopping".
    pub fn words(&self) -> String {
        match self {
            Reason::Skill(skill) => format!("because you offer: {}", skill.trim()),
            Reason::Offer { title, .. } => format!("because you offer: {}", title.trim()),
        }
    }
}

/// Words too common to say two texts are about the same thing.
const COMMON: [&str; 24] = [
    "the", "and", "for", "with", "help", "helping", "need", "needed", "please", "some", "someone", "anyone", "can",
    "could", "would", "like", "from", "this", "that", "week", "day", "time", "any", "you",
];

/// A text as a list of words: split at anything not a letter or digit, each in lower case,
/// a plural's final `s` dropped ("lifts" is "lift").
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_lowercase();
            match lower.strip_suffix('s') {
                Some(stem) if stem.chars().count() >= 3 && !stem.ends_with('s') => stem.to_string(),
                _ => lower,
            }
        })
        .collect()
}

/// Words that say what a text is about: not common ones, at least three letters.
fn telling(text: &str) -> Vec<String> {
    words(text).into_iter().filter(|w| w.chars().count() >= 3 && !COMMON.contains(&w.as_str())).collect()
}

/// Whether `phrase`'s words occur together, in order, in `text`'s words.
fn contains_phrase(text: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && text.windows(phrase.len()).any(|window| window == phrase)
}

/// Rule: why a member with these skills and open offers might help with `need`, or `None`.
/// A skill matches when it is the request's category or its words stand together in the
/// request's title, details or category; an offer matches when it has the request's category
/// or shares a telling word with the request's title. Skills are tried first, in the
/// profile's order, then offers in the order given.
pub fn why_match(need: &Need<'_>, skills: &[String], offers: &[Offer<'_>]) -> Option<Reason> {
    let category = words(need.category);
    let mut text = words(need.title);
    text.extend(words(need.details));
    text.extend(category.iter().cloned());
    for skill in skills {
        let phrase = words(skill);
        if (!category.is_empty() && phrase == category) || contains_phrase(&text, &phrase) {
            return Some(Reason::Skill(skill.trim().to_string()));
        }
    }
    let title = telling(need.title);
    for offer in offers {
        let same_category = !category.is_empty() && words(offer.category) == category;
        if same_category || telling(offer.title).iter().any(|w| title.contains(w)) {
            return Some(Reason::Offer { post: offer.post, title: offer.title.trim().to_string() });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need<'a>(title: &'a str, category: &'a str) -> Need<'a> {
        Need { title, details: "", category }
    }

    #[test]
    fn skills_match_by_category_or_words() {
        let skills = vec!["Gardening".to_string(), "shopping".to_string()];
        let shopping = why_match(&need("Help with the weekly shop", "shopping"), &skills, &[]);
        assert_eq!(shopping, Some(Reason::Skill("shopping".into())));
        assert_eq!(shopping.map(|r| r.words()).as_deref(), Some("because you offer: shopping"));
        let words = why_match(&need("Some gardening on Saturday", ""), &skills, &[]);
        assert_eq!(words, Some(Reason::Skill("Gardening".into())));
        assert_eq!(why_match(&need("A lift to the surgery", "transport"), &skills, &[]), None);
    }

    #[test]
    fn offers_match_by_category_or_a_telling_word() {
        let lifts = Offer { post: EntryHash([1; 32]), title: "Lifts to the surgery", category: "transport" };
        let hospital = need("A lift to the hospital", "");
        assert_eq!(
            why_match(&hospital, &[], &[lifts]),
            Some(Reason::Offer { post: EntryHash([1; 32]), title: "Lifts to the surgery".into() })
        );
        assert!(why_match(&need("Moving a sofa", "transport"), &[], &[lifts]).is_some());
        assert_eq!(why_match(&need("Help with the forms", ""), &[], &[lifts]), None, "common words do not count");
    }

    #[test]
    fn words_are_lower_case_and_singular() {
        assert_eq!(words("Lifts, DIY & glass"), vec!["lift", "diy", "glass"]);
    }
}
