//! Who may see the web page: one-time login codes (minted through the API with the bearer
//! token, good once and for [`LOGIN_CODE_MS`]), the sessions they open (a random id in an
//! HttpOnly, SameSite=Strict cookie), each with its CSRF token, and the checks of `Host` and
//! `Origin` that keep other sites and other names out.
//!
//! Sessions outlive a restart of the node: a volunteer whose computer restarted should find
//! the page as they left it, not need the command line for a new link. They are kept in the
//! home (`web-sessions.json`, mode 0600) by the hash of their id — the file alone cannot sign a
//! browser in — and forgotten after [`SESSION_IDLE_MS`] unused, or on signing out.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::node::NodeHandle;

/// How long a login link works: ten minutes.
pub const LOGIN_CODE_MS: u64 = 10 * 60 * 1000;
/// Most login codes waiting to be used at once; minting more forgets the oldest.
pub const MAX_LOGIN_CODES: usize = 32;
/// Most sessions remembered at once; opening more forgets the least recently used.
pub const MAX_SESSIONS: usize = 64;
/// How long the browser keeps the cookie.
pub const COOKIE_MAX_AGE_SECS: u64 = 90 * 24 * 60 * 60;
/// A session unused this long is forgotten (the cookie's own lifetime).
pub const SESSION_IDLE_MS: u64 = COOKIE_MAX_AGE_SECS * 1000;
/// A session's last use is written to the file at most this often.
const TOUCH_SAVE_MS: u64 = 60 * 60 * 1000;

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// Every form of this session carries it; a POST without it is refused.
    pub csrf: String,
}

/// A session as the node keeps it: by the hash of its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Kept {
    csrf: String,
    last_used_ms: u64,
    /// A device paired on the home network: its name, as typed when pairing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device: Option<String>,
    /// A paired device's session works only from the address it paired from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bound_ip: Option<IpAddr>,
}

/// How long a pairing code works: ten minutes.
pub const PAIRING_CODE_MS: u64 = 10 * 60 * 1000;
/// Wrong pairing codes in a row after which every waiting code is withdrawn.
pub const MAX_PAIRING_FAILURES: u32 = 5;
/// The letters of a pairing code (Crockford's base 32: no I, L, O or U; a typed O is read as
/// 0, I and L as 1); 8 of them are 40 bits.
const PAIRING_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Letters in a pairing code.
const PAIRING_LEN: usize = 8;

/// A device signed in on the home network, as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Names the device to sign it out (the start of its session's hash: not a way in).
    pub key: String,
    pub name: String,
    pub last_used_ms: u64,
}

#[derive(Debug, Default)]
struct GateState {
    /// Code → when it stops working (ms since the epoch).
    codes: HashMap<String, u64>,
    /// Hash of the session id (hex) → the session.
    sessions: HashMap<String, Kept>,
    /// Pairing code → when it stops working.
    pairings: HashMap<String, u64>,
    /// Wrong pairing codes since the last right one.
    pairing_failures: u32,
}

/// The web page's door: shared by the API (which mints codes) and the page (which redeems
/// them and checks sessions).
#[derive(Debug, Clone)]
pub struct Gate {
    addr: SocketAddr,
    state: Arc<Mutex<GateState>>,
    /// Where sessions are kept across restarts (`None`: in memory only).
    file: Option<PathBuf>,
    /// Whose page this is (a short id of the node's member), in the cookie's name.
    node: String,
    /// The door of the page on the home network (`kith run --lan`): any IP address of this
    /// computer in `Host`, and a session only through pairing.
    lan: bool,
}

/// The hash by which a session is kept.
fn id_hash(id: &str) -> String {
    blake3::hash(id.trim().as_bytes()).to_hex().to_string()
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
    /// Sessions are kept in memory only.
    pub fn new(addr: SocketAddr) -> Gate {
        Gate { addr, state: Arc::default(), file: None, node: String::new(), lan: false }
    }

    /// The gate of a page served at `addr` whose sessions are kept in `file` across restarts:
    /// reads the sessions it holds (an unreadable file is reported and started afresh), and
    /// drops those unused for [`SESSION_IDLE_MS`].
    pub fn remembering(addr: SocketAddr, file: PathBuf, now_ms: u64) -> Gate {
        let read = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
            Err(error) => Err(error.to_string()),
        };
        let mut sessions: HashMap<String, Kept> = read.unwrap_or_else(|error| {
            tracing::warn!(%error, file = %file.display(), "web sessions unreadable; browsers sign in again");
            HashMap::new()
        });
        sessions.retain(|_, kept| now_ms.saturating_sub(kept.last_used_ms) < SESSION_IDLE_MS);
        let state = GateState { sessions, ..GateState::default() };
        let gate = Gate { addr, state: Arc::new(Mutex::new(state)), file: Some(file), node: String::new(), lan: false };
        gate.save(&gate.state());
        gate
    }

    /// Writes the sessions to the file, if there is one. A failure is logged: the sessions
    /// still work until the node stops.
    fn save(&self, state: &GateState) {
        let Some(file) = &self.file else { return };
        let written = serde_json::to_vec(&state.sessions)
            .map_err(|e| e.to_string())
            .and_then(|bytes| crate::home::write_private(file, &bytes).map_err(|e| e.to_string()));
        if let Err(error) = written {
            tracing::warn!(%error, file = %file.display(), "cannot keep the web sessions; a restart will sign browsers out");
        }
    }

    /// This gate as the door of the page on the home network (see [`Gate::host_allowed`]).
    pub fn on_lan(mut self) -> Gate {
        self.lan = true;
        self
    }

    /// Whether this is the home network's door.
    pub fn is_lan(&self) -> bool {
        self.lan
    }

    /// The port the page listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address the page is bound to (unspecified: every address of this computer).
    pub fn bound_ip(&self) -> IpAddr {
        self.addr.ip()
    }

    /// A new pairing code (like `K7QM4TXP`), good once until `now_ms + PAIRING_CODE_MS`.
    pub fn mint_pairing(&self, now_ms: u64) -> Result<(String, u64), String> {
        let mut bytes = [0u8; PAIRING_LEN];
        getrandom::fill(&mut bytes).map_err(|e| format!("cannot read random bytes: {e}"))?;
        let code: String = bytes.iter().map(|b| char::from(PAIRING_ALPHABET[usize::from(b % 32)])).collect();
        let expires_at_ms = now_ms.saturating_add(PAIRING_CODE_MS);
        keep_code(&mut self.state().pairings, &code, expires_at_ms, now_ms);
        Ok((code, expires_at_ms))
    }

    /// Uses a pairing code up: a session for the device `name`, bound to the address `from`.
    /// `None` for a wrong, used or expired code; after [`MAX_PAIRING_FAILURES`] wrong codes
    /// in a row every waiting code is withdrawn (guessing 40 bits five at a time gets nowhere).
    pub fn redeem_pairing(&self, code: &str, name: &str, from: IpAddr, now_ms: u64) -> Result<Option<Session>, String> {
        let typed: String = code
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            })
            .collect();
        let mut state = self.state();
        let found = state.pairings.keys().find(|known| same(known, &typed)).cloned();
        let good = found.and_then(|known| state.pairings.remove(&known)).is_some_and(|expires| expires > now_ms);
        if !good {
            state.pairing_failures += 1;
            if state.pairing_failures >= MAX_PAIRING_FAILURES {
                state.pairings.clear();
                state.pairing_failures = 0;
                tracing::warn!(%from, "too many wrong pairing codes: every waiting code is withdrawn");
            }
            return Ok(None);
        }
        state.pairing_failures = 0;
        let session = Session { id: random_hex()?, csrf: random_hex()? };
        make_room(&mut state.sessions);
        let name: String = name.chars().filter(|c| !c.is_control()).take(60).collect();
        let name = if name.trim().is_empty() { "A device".to_string() } else { name.trim().to_string() };
        let kept = Kept { csrf: session.csrf.clone(), last_used_ms: now_ms, device: Some(name), bound_ip: Some(from) };
        state.sessions.insert(id_hash(&session.id), kept);
        self.save(&state);
        Ok(Some(session))
    }

    /// The session a cookie names, as [`Gate::session`], refused when it belongs to a device
    /// paired from another address than `from`.
    pub fn session_from(&self, id: &str, from: Option<IpAddr>, now_ms: u64) -> Option<Session> {
        {
            let state = self.state();
            let wanted = id_hash(id);
            let kept = state.sessions.iter().find(|(known, _)| same(known, &wanted)).map(|(_, kept)| kept)?;
            if let Some(bound) = kept.bound_ip
                && Some(bound) != from
            {
                return None;
            }
            if self.lan && kept.bound_ip.is_none() {
                // A session opened on this computer is not a way in from the home network.
                return None;
            }
        }
        self.session(id, now_ms)
    }

    /// The devices signed in through pairing, most recently used first.
    pub fn devices(&self) -> Vec<Device> {
        let state = self.state();
        let mut devices: Vec<Device> = state
            .sessions
            .iter()
            .filter_map(|(hash, kept)| {
                kept.device.as_ref().map(|name| Device {
                    key: hash.chars().take(16).collect(),
                    name: name.clone(),
                    last_used_ms: kept.last_used_ms,
                })
            })
            .collect();
        devices.sort_by(|a, b| b.last_used_ms.cmp(&a.last_used_ms).then_with(|| a.name.cmp(&b.name)));
        devices
    }

    /// Signs a paired device out; whether there was one by that key.
    pub fn end_device(&self, key: &str) -> bool {
        let mut state = self.state();
        let found = state
            .sessions
            .iter()
            .find(|(hash, kept)| kept.device.is_some() && key.len() == 16 && hash.starts_with(key))
            .map(|(hash, _)| hash.clone());
        let Some(hash) = found else { return false };
        state.sessions.remove(&hash);
        self.save(&state);
        true
    }

    fn state(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The page's address, `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The same gate for the page of the node whose member's short id is `node`: its cookie
    /// is named for it.
    pub fn for_node(mut self, node: &str) -> Gate {
        self.node = node.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
        self
    }

    /// The cookie's name: it carries the port and the node's short id, because browsers share
    /// cookies between ports (every service on 127.0.0.1 sees them) and two nodes on one
    /// computer, or one after the other on a port, must not read or overwrite each other's.
    pub fn cookie_name(&self) -> String {
        if self.node.is_empty() {
            format!("kith_session_{}", self.addr.port())
        } else {
            format!("kith_session_{}_{}", self.addr.port(), self.node)
        }
    }

    /// A new one-time code, good until `now_ms + LOGIN_CODE_MS`. Returns the code and when it
    /// expires.
    pub fn mint(&self, now_ms: u64) -> Result<(String, u64), String> {
        let code = random_hex()?;
        let expires_at_ms = now_ms.saturating_add(LOGIN_CODE_MS);
        keep_code(&mut self.state().codes, &code, expires_at_ms, now_ms);
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
        let session = Session { id: random_hex()?, csrf: random_hex()? };
        make_room(&mut state.sessions);
        let kept = Kept { csrf: session.csrf.clone(), last_used_ms: now_ms, device: None, bound_ip: None };
        state.sessions.insert(id_hash(&session.id), kept);
        self.save(&state);
        Ok(Some(session))
    }

    /// The session a cookie names, if the node remembers it and it was used within
    /// [`SESSION_IDLE_MS`].
    pub fn session(&self, id: &str, now_ms: u64) -> Option<Session> {
        let mut state = self.state();
        let wanted = id_hash(id);
        let found = state.sessions.keys().find(|known| same(known, &wanted)).cloned()?;
        let kept = state.sessions.get_mut(&found)?;
        let idle = now_ms.saturating_sub(kept.last_used_ms);
        if idle >= SESSION_IDLE_MS {
            state.sessions.remove(&found);
            self.save(&state);
            return None;
        }
        kept.last_used_ms = now_ms.max(kept.last_used_ms);
        let session = Session { id: id.trim().to_string(), csrf: kept.csrf.clone() };
        if idle >= TOUCH_SAVE_MS {
            self.save(&state);
        }
        Some(session)
    }

    /// Forgets a session (signing out).
    pub fn end(&self, id: &str) {
        let mut state = self.state();
        if state.sessions.remove(&id_hash(id)).is_some() {
            self.save(&state);
        }
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
    ///
    /// On the home network's door: an IP address (any of this computer's, as the tablet
    /// reached it) with the page's port — never a name, so a site pointing its name at this
    /// computer (DNS rebinding) is still refused.
    pub fn host_allowed(&self, host: &str) -> bool {
        let port = self.addr.port();
        let host = host.trim().to_ascii_lowercase();
        if self.lan {
            return host.parse::<SocketAddr>().is_ok_and(|addr| addr.port() == port);
        }
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

/// Keeps `code` (good until `expires_at_ms`) in a table of one-time codes: expired codes go, and
/// the oldest go while the table holds [`MAX_LOGIN_CODES`].
fn keep_code(codes: &mut HashMap<String, u64>, code: &str, expires_at_ms: u64, now_ms: u64) {
    codes.retain(|_, expires| *expires > now_ms);
    while codes.len() >= MAX_LOGIN_CODES {
        let Some(oldest) = codes.iter().min_by_key(|(_, expires)| **expires).map(|(code, _)| code.clone()) else {
            break;
        };
        codes.remove(&oldest);
    }
    codes.insert(code.to_string(), expires_at_ms);
}

/// A pairing code with the links that carry it.
#[derive(Debug, Clone)]
pub struct Pairing {
    pub code: String,
    /// `http://192.168.1.20:7475/pair`
    pub base: String,
    /// The base with `?code=…`: what the QR code holds.
    pub url: String,
    pub expires_at_ms: u64,
}

/// Mints a pairing code at the home network's door, with the address a tablet reaches.
pub async fn new_pairing(node: &NodeHandle, lan: &Gate) -> Result<Pairing, String> {
    let (code, expires_at_ms) = lan.mint_pairing(now_ms())?;
    let ip = lan_ip(node, lan).await;
    let host = match ip {
        IpAddr::V4(ip) => format!("{ip}:{}", lan.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", lan.port()),
    };
    let base = format!("http://{host}/pair");
    Ok(Pairing { url: format!("{base}?code={code}"), base, code, expires_at_ms })
}

/// The address a device on the home network reaches this computer at: the one the page is
/// bound to, or (bound to every address) the first of this computer's own addresses that is
/// neither loopback nor unspecified, as the network loop found them.
async fn lan_ip(node: &NodeHandle, lan: &Gate) -> IpAddr {
    let bound = lan.bound_ip();
    if !bound.is_unspecified() {
        return bound;
    }
    for addr in node.listen_addrs().await {
        for part in addr.iter() {
            if let libp2p::multiaddr::Protocol::Ip4(ip) = part
                && !ip.is_loopback()
                && !ip.is_unspecified()
            {
                return IpAddr::V4(ip);
            }
        }
    }
    bound
}

/// Ends the least recently used sessions until a new one fits under [`MAX_SESSIONS`].
fn make_room(sessions: &mut HashMap<String, Kept>) {
    while sessions.len() >= MAX_SESSIONS {
        let oldest = sessions.iter().min_by_key(|(_, s)| s.last_used_ms).map(|(hash, _)| hash.clone());
        match oldest {
            Some(hash) => sessions.remove(&hash),
            None => break,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        Gate::new(SocketAddr::from(([127, 0, 0, 1], 7474)))
    }

    fn lan_gate() -> Gate {
        Gate::new(SocketAddr::from(([0, 0, 0, 0], 7475))).on_lan()
    }

    #[test]
    #[allow(clippy::unwrap_used, clippy::expect_used)]
    fn a_pairing_code_works_once_as_typed_and_binds_the_session_to_the_device() {
        let gate = lan_gate();
        let tablet: IpAddr = [192, 168, 1, 30].into();
        let (code, expires) = gate.mint_pairing(1_000).unwrap();
        assert_eq!(expires, 1_000 + PAIRING_CODE_MS);
        assert_eq!(code.len(), 8);
        let typed = format!("{}-{}", code[..4].to_lowercase(), &code[4..]);
        let session = gate.redeem_pairing(&typed, "Kitchen tablet", tablet, 2_000).unwrap().expect("paired");
        assert!(gate.redeem_pairing(&code, "Again", tablet, 2_001).unwrap().is_none(), "once only");
        assert!(gate.session_from(&session.id, Some(tablet), 3_000).is_some());
        assert!(gate.session_from(&session.id, Some([192, 168, 1, 31].into()), 3_000).is_none(), "bound to the device");
        assert!(gate.session_from(&session.id, None, 3_000).is_none());
        let devices = gate.devices();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].name, "Kitchen tablet");
        assert!(gate.end_device(&devices[0].key));
        assert!(gate.session_from(&session.id, Some(tablet), 4_000).is_none(), "signed out");
        let (late, _) = gate.mint_pairing(10_000).unwrap();
        assert!(gate.redeem_pairing(&late, "Late", tablet, 10_000 + PAIRING_CODE_MS).unwrap().is_none(), "expired");
    }

    #[test]
    #[allow(clippy::unwrap_used, clippy::expect_used)]
    fn wrong_pairing_codes_withdraw_every_waiting_code() {
        let gate = lan_gate();
        let tablet: IpAddr = [192, 168, 1, 30].into();
        let (code, _) = gate.mint_pairing(1_000).unwrap();
        for _ in 0..MAX_PAIRING_FAILURES {
            assert!(gate.redeem_pairing("ZZZZZZZZ", "Guess", tablet, 1_500).unwrap().is_none());
        }
        assert!(gate.redeem_pairing(&code, "Tablet", tablet, 1_600).unwrap().is_none(), "withdrawn after guesses");
    }

    #[test]
    #[allow(clippy::unwrap_used, clippy::expect_used)]
    fn the_home_network_door_takes_ip_addresses_only_and_no_local_session() {
        let gate = lan_gate();
        assert!(gate.host_allowed("192.168.1.20:7475"));
        assert!(gate.host_allowed("[fe80::1]:7475"));
        assert!(!gate.host_allowed("192.168.1.20:7474"), "another port");
        assert!(!gate.host_allowed("evil.example:7475"), "a name (DNS rebinding)");
        assert!(!gate.host_allowed("localhost:7475"));
        let (code, _) = gate.mint(1_000).unwrap();
        let local = gate.redeem(&code, 1_001).unwrap().expect("a local session");
        assert!(gate.session_from(&local.id, Some([192, 168, 1, 30].into()), 1_002).is_none());
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
    fn sessions_outlive_a_restart_but_not_signing_out_nor_idleness() {
        let home = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
        let file = home.path().join("web-sessions.json");
        let addr = SocketAddr::from(([127, 0, 0, 1], 7474));
        let first = Gate::remembering(addr, file.clone(), 1_000);
        let signed_in = |gate: &Gate, now: u64| {
            let (code, _) = gate.mint(now).unwrap_or_default();
            gate.redeem(&code, now).ok().flatten().unwrap_or_else(|| panic!("a session"))
        };
        let kept = signed_in(&first, 1_000);
        let ended = signed_in(&first, 1_000);
        let idle = signed_in(&first, 1_000);
        let saved = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(!saved.contains(&kept.id), "the file keeps hashes of session ids, not the ids");
        drop(first);

        // The node restarts.
        let later = 1_000 + SESSION_IDLE_MS / 2;
        let second = Gate::remembering(addr, file.clone(), later);
        let found = second.session(&kept.id, later).unwrap_or_else(|| panic!("the session survives"));
        assert_eq!((found.id.as_str(), found.csrf.as_str()), (kept.id.as_str(), kept.csrf.as_str()));
        second.end(&ended.id);
        assert!(second.session("not a session", later).is_none());
        drop(second);

        let third = Gate::remembering(addr, file.clone(), later + 1);
        assert!(third.session(&kept.id, later + 1).is_some());
        assert!(third.session(&ended.id, later + 1).is_none(), "signing out is kept too");
        // `idle` was last used at 1_000: past SESSION_IDLE_MS it is gone.
        assert!(third.session(&idle.id, 1_000 + SESSION_IDLE_MS).is_none());
        drop(third);
        let fourth = Gate::remembering(addr, file, 1_000 + SESSION_IDLE_MS);
        assert!(fourth.session(&idle.id, 1_000 + SESSION_IDLE_MS).is_none());
        assert!(fourth.session(&kept.id, 1_000 + SESSION_IDLE_MS).is_some(), "used at `later`, still fresh");
    }

    #[test]
    fn an_unreadable_sessions_file_signs_everyone_out_and_is_replaced() {
        let home = tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"));
        let file = home.path().join("web-sessions.json");
        std::fs::write(&file, b"{ not json").unwrap_or_else(|e| panic!("{e}"));
        let gate = Gate::remembering(SocketAddr::from(([127, 0, 0, 1], 7474)), file.clone(), 0);
        assert!(gate.state().sessions.is_empty());
        assert_eq!(std::fs::read_to_string(&file).unwrap_or_default(), "{}");
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
    fn the_cookie_is_named_for_the_node_and_scoped() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 7474));
        let mine = Gate::new(addr).for_node("a1b2c3d4");
        let other = Gate::new(addr).for_node("e5f6a7b8");
        assert_eq!(mine.cookie_name(), "kith_session_7474_a1b2c3d4");
        let header = format!("{}=abc", other.cookie_name());
        assert_eq!(mine.session_id_from_cookies(&header), None, "another node's cookie on the same port");
        let session = Session { id: "abc".into(), csrf: "x".into() };
        let set = mine.set_cookie(&session);
        for part in ["kith_session_7474_a1b2c3d4=abc", "Path=/", "HttpOnly", "SameSite=Strict"] {
            assert!(set.contains(part), "{set}");
        }
    }

    #[test]
    fn reads_its_own_cookie() {
        let gate = gate();
        let header = "other=1; kith_session_7474=abc; kith_session_7475=def";
        assert_eq!(gate.session_id_from_cookies(header).as_deref(), Some("abc"));
        assert_eq!(gate.session_id_from_cookies("other=1"), None);
    }
}
