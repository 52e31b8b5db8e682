//! Who may see the web page: one-time login codes (minted through the API with the bearer
//! token, good once and for [`LOGIN_CODE_MS`]), the sessions they open (a random id in an
//! HttpOnly, SameSite=Strict cookie, remembered in memory until the node stops), each with its
//! CSRF token, and the checks of `Host` and `Origin` that keep other sites and other names out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// How long a login link works: ten minutes.
pub const LOGIN_CODE_MS: u64 = 10 * 60 * 1000;
/// Most login codes waiting to be used at once; minting more forgets the oldest.
pub const MAX_LOGIN_CODES: usize = 32;
/// Most sessions remembered at once; opening more forgets the least recently used.
pub const MAX_SESSIONS: usize = 64;
/// How long the browser keeps the cookie (the node forgets sessions when it stops).
pub const COOKIE_MAX_AGE_SECS: u64 = 90 * 24 * 60 * 60;

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// Every form of this session carries it; a POST without it is refused.
    pub csrf: String,
    last_used_ms: u64,
}

#[derive(Debug, Default)]
struct GateState {
    /// Code → when it stops working (ms since the epoch).
    codes: HashMap<String, u64>,
    sessions: HashMap<String, Session>,
}

/// The web page's door: shared by the API (which mints codes) and the page (which redeems
/// them and checks sessions).
#[derive(Debug, Clone)]
pub struct Gate {
    addr: SocketAddr,
    state: Arc<Mutex<GateState>>,
}

/// 32 random bytes as hex.
pub fn random_hex() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot read random bytes: {e}"))?;
    Ok(hex::encode(bytes))
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Gate {
    /// The gate of a page served at `addr` (the API's bound loopback address).
    pub fn new(addr: SocketAddr) -> Gate {
        Gate { addr, state: Arc::default() }
    }

    fn state(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The page's address, `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The cookie's name: it carries the port, because browsers share cookies between ports
    /// and two nodes on one computer must not overwrite each other's.
    pub fn cookie_name(&self) -> String {
        format!("kith_session_{}", self.addr.port())
    }

    /// A new one-time code, good until `now_ms + LOGIN_CODE_MS`. Returns the code and when it
    /// expires.
    pub fn mint(&self, now_ms: u64) -> Result<(String, u64), String> {
        let code = random_hex()?;
        let expires_at_ms = now_ms.saturating_add(LOGIN_CODE_MS);
        let mut state = self.state();
        state.codes.retain(|_, expires| *expires > now_ms);
        while state.codes.len() >= MAX_LOGIN_CODES {
            let oldest = state.codes.iter().min_by_key(|(_, expires)| **expires).map(|(code, _)| code.clone());
            match oldest {
                Some(code) => state.codes.remove(&code),
                None => break,
            };
        }
        state.codes.insert(code.clone(), expires_at_ms);
        Ok((code, expires_at_ms))
    }

    /// Uses a code up: a new session when it was good and not expired, `None` otherwise
    /// (unknown, used already, or too old).
    pub fn redeem(&self, code: &str, now_ms: u64) -> Result<Option<Session>, String> {
        let mut state = self.state();
        let found = state.codes.keys().find(|known| same(known, code.trim())).cloned();
        let Some(known) = found else { return Ok(None) };
        let expires = state.codes.remove(&known).unwrap_or(0);
        if expires <= now_ms {
            return Ok(None);
        }
        let session = Session { id: random_hex()?, csrf: random_hex()?, last_used_ms: now_ms };
        while state.sessions.len() >= MAX_SESSIONS {
            let oldest = state.sessions.values().min_by_key(|s| s.last_used_ms).map(|s| s.id.clone());
            match oldest {
                Some(id) => state.sessions.remove(&id),
                None => break,
            };
        }
        state.sessions.insert(session.id.clone(), session.clone());
        Ok(Some(session))
    }

    /// The session a cookie names, if the node remembers it.
    pub fn session(&self, id: &str, now_ms: u64) -> Option<Session> {
        let mut state = self.state();
        let found = state.sessions.keys().find(|known| same(known, id)).cloned()?;
        let session = state.sessions.get_mut(&found)?;
        session.last_used_ms = now_ms;
        Some(session.clone())
    }

    /// Forgets a session (signing out).
    pub fn end(&self, id: &str) {
        self.state().sessions.remove(id);
    }

    /// The session id in a `Cookie` header, if it holds this page's cookie.
    pub fn session_id_from_cookies(&self, header: &str) -> Option<String> {
        let name = self.cookie_name();
        header
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.trim().to_string())
    }

    /// The `Set-Cookie` value that opens a session.
    pub fn set_cookie(&self, session: &Session) -> String {
        format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE_SECS}",
            self.cookie_name(),
            session.id
        )
    }

    /// The `Set-Cookie` value that removes it.
    pub fn clear_cookie(&self) -> String {
        format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", self.cookie_name())
    }

    /// Whether a `Host` header names this page: `127.0.0.1:PORT`, `localhost:PORT` or
    /// `[::1]:PORT`. Any other name could be a site that points its name at this computer.
    pub fn host_allowed(&self, host: &str) -> bool {
        let port = self.addr.port();
        let host = host.trim().to_ascii_lowercase();
        [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}"), self.addr.to_string()]
            .contains(&host)
    }

    /// Whether a POST's `Origin` header (when the browser sent one) is this page's own, for the
    /// `Host` it was sent to.
    pub fn origin_allowed(&self, origin: Option<&str>, host: &str) -> bool {
        match origin {
            None => true,
            Some(origin) => {
                self.host_allowed(host) && origin.trim().eq_ignore_ascii_case(&format!("http://{}", host.trim()))
            }
        }
    }

    /// Whether a form's token is the session's.
    pub fn csrf_ok(session: &Session, given: &str) -> bool {
        same(&session.csrf, given.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        Gate::new(SocketAddr::from(([127, 0, 0, 1], 7474)))
    }

    #[test]
    fn a_code_works_once() {
        let gate = gate();
        let (code, expires) = gate.mint(1_000).unwrap_or_default();
        assert_eq!(expires, 1_000 + LOGIN_CODE_MS);
        let session = gate.redeem(&code, 2_000).ok().flatten();
        assert!(session.is_some());
        assert_eq!(gate.redeem(&code, 2_001), Ok(None), "a used code does not work again");
        let id = session.map(|s| s.id).unwrap_or_default();
        assert!(gate.session(&id, 3_000).is_some());
        gate.end(&id);
        assert!(gate.session(&id, 3_001).is_none());
    }

    #[test]
    fn an_old_code_does_not_work() {
        let gate = gate();
        let (code, expires) = gate.mint(0).unwrap_or_default();
        assert_eq!(gate.redeem(&code, expires), Ok(None));
        assert_eq!(gate.redeem("not a code", 1), Ok(None));
    }

    #[test]
    fn codes_and_sessions_are_bounded() {
        let gate = gate();
        for now in 0..(MAX_LOGIN_CODES as u64 + 5) {
            let _ = gate.mint(now);
        }
        assert_eq!(gate.state().codes.len(), MAX_LOGIN_CODES);
        for now in 0..(MAX_SESSIONS as u64 + 5) {
            if let Ok((code, _)) = gate.mint(now) {
                let _ = gate.redeem(&code, now);
            }
        }
        assert_eq!(gate.state().sessions.len(), MAX_SESSIONS);
    }

    #[test]
    fn only_this_computer_and_this_page() {
        let gate = gate();
        assert!(gate.host_allowed("127.0.0.1:7474"));
        assert!(gate.host_allowed("localhost:7474"));
        assert!(!gate.host_allowed("evil.example:7474"));
        assert!(!gate.host_allowed("127.0.0.1:7475"));
        assert!(gate.origin_allowed(Some("http://127.0.0.1:7474"), "127.0.0.1:7474"));
        assert!(gate.origin_allowed(None, "127.0.0.1:7474"));
        assert!(!gate.origin_allowed(Some("http://evil.example"), "127.0.0.1:7474"));
        assert!(!gate.origin_allowed(Some("null"), "127.0.0.1:7474"));
    }

    #[test]
    fn reads_its_own_cookie() {
        let gate = gate();
        let header = "other=1; kith_session_7474=abc; kith_session_7475=def";
        assert_eq!(gate.session_id_from_cookies(header).as_deref(), Some("abc"));
        assert_eq!(gate.session_id_from_cookies("other=1"), None);
    }
}
