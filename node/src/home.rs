//! A node's home folder (mode 0700 when created): the key (mode 0600), the config, the
//! database, `api.json` and the web page's sessions (`web-sessions.json`, mode 0600).
//! Every file is written whole beside its place, fsynced, renamed over it, and the rename
//! fsynced with the folder ([`write_private`]).
//! Several nodes run on one machine by having different homes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use kith_protocol::{CommunityId, Keypair};

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("cannot use the home folder {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the key file {path} is damaged: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("the config file {path} is damaged: {reason}")]
    BadConfig { path: PathBuf, reason: String },
    #[error("this home already has a key ({path}); refusing to overwrite it")]
    KeyExists { path: PathBuf },
    #[error("cannot read random bytes for a new key: {0}")]
    Random(String),
}

/// What the home remembers between runs besides the key and the database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeConfig {
    /// The community this home belongs to or is joining.
    pub community: Option<String>,
    /// The name to use in the join request, sent when the node first reaches the community.
    pub join_name: Option<String>,
    /// When the join request is dated (set by `kith join`, or at the first run): a node that
    /// asks again signs the same request, never a second one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_timestamp_ms: Option<u64>,
    /// Addresses to reach the community (from the invite), dialled at start.
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// The invite capability this home joined with, presented to the community.
    pub invite: Option<String>,
    /// Set after `kith key restore`: the node fetches its own log before it lets us publish.
    #[serde(default)]
    pub restored: bool,
    /// Serve the web page on the home network too, as `kith run --lan` does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lan: bool,
}

/// A helped member's key held in this home (`helped/<member id>.json`, mode 0600 like the
/// home's own key): their name and the most a payment made for them may be, as they agreed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelpedKey {
    /// The secret key, 64 hex digits.
    pub key: String,
    pub name: String,
    pub limit_minutes: u32,
    /// Handed over by their previous helper (`kith member take`), not added here: this node
    /// writes for them only once their log names this member their helper.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub taken: bool,
}

impl HelpedKey {
    pub fn keypair(&self, path: &Path) -> Result<Keypair, HomeError> {
        parse_key(path, &self.key)
    }
}

/// The address and token of a running node's API, written by `kith run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiInfo {
    pub url: String,
    pub token: String,
}

/// A node's home folder.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |source| HomeError::Io { path: path.to_path_buf(), source }
}

/// Writes a file readable by its owner only: a fresh `.tmp` beside it (a stale one, with
/// whatever mode it had, is removed first), fsynced, renamed over the file, and the folder
/// fsynced so that the rename survives a power cut.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), HomeError> {
    let tmp = path.with_extension("tmp");
    match fs::remove_file(&tmp) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(io_error(&tmp)(error)),
        _ => {}
    }
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io_error(&tmp))?;
        file.write_all(contents).map_err(io_error(&tmp))?;
        file.sync_all().map_err(io_error(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_error(path))?;
    sync_folder_of(path)
}

/// Fsyncs the folder holding `path`, so that a rename into it survives a power cut.
fn sync_folder_of(path: &Path) -> Result<(), HomeError> {
    #[cfg(unix)]
    if let Some(folder) = path.parent().filter(|folder| !folder.as_os_str().is_empty()) {
        fs::File::open(folder).and_then(|folder| folder.sync_all()).map_err(io_error(folder))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates a folder (and its parents) readable by its owner only.
fn create_private_dir(dir: &Path) -> Result<(), HomeError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_error(dir))
}

/// A key file's text: 64 hex digits.
fn parse_key(path: &Path, text: &str) -> Result<Keypair, HomeError> {
    let mut secret = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut secret)
        .map_err(|e| HomeError::BadKey { path: path.to_path_buf(), reason: e.to_string() })?;
    Ok(Keypair::from_secret_bytes(secret))
}

impl Home {
    /// The home at `dir`, created if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Home, HomeError> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        Ok(Home { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("key")
    }
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("db")
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn api_path(&self) -> PathBuf {
        self.dir.join("api.json")
    }
    /// The web page's signed-in sessions, kept across restarts (see `web::Gate`).
    pub fn web_sessions_path(&self) -> PathBuf {
        self.dir.join("web-sessions.json")
    }

    /// The helped members' keys held here (one file each).
    pub fn helped_dir(&self) -> PathBuf {
        self.dir.join("helped")
    }

    /// Stores a helped member's key (`taken`: handed over by another helper); refuses to
    /// overwrite one.
    pub fn add_helped(&self, keypair: &Keypair, name: &str, limit_minutes: u32, taken: bool) -> Result<(), HomeError> {
        let dir = self.helped_dir();
        create_private_dir(&dir)?;
        let path = dir.join(format!("{}.json", keypair.member_id()));
        if path.exists() {
            return Err(HomeError::KeyExists { path });
        }
        let held = HelpedKey { key: hex::encode(keypair.secret_bytes()), name: name.to_string(), limit_minutes, taken };
        let bytes = serde_json::to_vec_pretty(&held)
            .map_err(|e| HomeError::BadKey { path: path.clone(), reason: e.to_string() })?;
        write_private(&path, &bytes)
    }

    /// Every helped member's key held here, with the file it came from.
    pub fn helped(&self) -> Result<Vec<(Keypair, HelpedKey)>, HomeError> {
        let dir = self.helped_dir();
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(HomeError::Io { path: dir, source: e }),
        };
        let mut held = Vec::new();
        for file in listing {
            let path = file.map_err(io_error(&dir))?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let bytes = fs::read(&path).map_err(io_error(&path))?;
            let key: HelpedKey = serde_json::from_slice(&bytes)
                .map_err(|e| HomeError::BadKey { path: path.clone(), reason: e.to_string() })?;
            held.push((key.keypair(&path)?, key));
        }
        held.sort_by(|a, b| a.1.name.cmp(&b.1.name));
        Ok(held)
    }

    /// The helped members held here that `text` names: by name (any case), or by their id or
    /// a prefix of it (for `--as MEMBER`).
    pub fn find_helped(&self, text: &str) -> Result<Vec<(Keypair, HelpedKey)>, HomeError> {
        let lower = text.trim().to_lowercase();
        let by_id = !lower.is_empty() && lower.chars().all(|c| c.is_ascii_hexdigit());
        Ok(self
            .helped()?
            .into_iter()
            .filter(|(key, file)| {
                file.name.to_lowercase() == lower || (by_id && key.member_id().to_string().starts_with(&lower))
            })
            .collect())
    }

    pub fn has_key(&self) -> bool {
        self.key_path().exists()
    }

    /// Reads the key. A key whose write stopped before its rename (a whole `key.tmp` and no
    /// `key`) is finished, never replaced by a new identity.
    pub fn key(&self) -> Result<Option<Keypair>, HomeError> {
        let path = self.key_path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.unfinished_key(),
            Err(e) => return Err(HomeError::Io { path, source: e }),
        };
        parse_key(&path, &text).map(Some)
    }

    /// A whole key left in `key.tmp` by a write cut before its rename: renamed into place.
    fn unfinished_key(&self) -> Result<Option<Keypair>, HomeError> {
        let path = self.key_path();
        let tmp = path.with_extension("tmp");
        let Ok(text) = fs::read_to_string(&tmp) else { return Ok(None) };
        let Ok(keypair) = parse_key(&tmp, &text) else { return Ok(None) };
        tracing::warn!(file = %tmp.display(), "the key's last write stopped before its rename; finishing it");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(io_error(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_error(&path))?;
        sync_folder_of(&path)?;
        Ok(Some(keypair))
    }

    /// Stores a key; refuses to overwrite one.
    pub fn write_key(&self, keypair: &Keypair) -> Result<(), HomeError> {
        let path = self.key_path();
        if path.exists() || self.unfinished_key()?.is_some() {
            return Err(HomeError::KeyExists { path });
        }
        write_private(&path, hex::encode(keypair.secret_bytes()).as_bytes())
    }

    /// Creates a fresh random key; refuses to overwrite one.
    pub fn create_key(&self) -> Result<Keypair, HomeError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| HomeError::Random(e.to_string()))?;
        let keypair = Keypair::from_secret_bytes(secret);
        self.write_key(&keypair)?;
        Ok(keypair)
    }

    /// The key, created on first use.
    pub fn key_or_create(&self) -> Result<Keypair, HomeError> {
        match self.key()? {
            Some(key) => Ok(key),
            None => self.create_key(),
        }
    }

    pub fn config(&self) -> Result<HomeConfig, HomeError> {
        let path = self.config_path();
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| HomeError::BadConfig { path, reason: e.to_string() })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HomeConfig::default()),
            Err(e) => Err(HomeError::Io { path, source: e }),
        }
    }

    pub fn write_config(&self, config: &HomeConfig) -> Result<(), HomeError> {
        let bytes = serde_json::to_vec_pretty(config)
            .map_err(|e| HomeError::BadConfig { path: self.config_path(), reason: e.to_string() })?;
        write_private(&self.config_path(), &bytes)
    }

    /// The community id from the config, if set and well formed.
    pub fn community(&self) -> Result<Option<CommunityId>, HomeError> {
        let config = self.config()?;
        match config.community {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|e: kith_protocol::IdError| HomeError::BadConfig {
                path: self.config_path(),
                reason: e.to_string(),
            }),
        }
    }

    pub fn api_info(&self) -> Result<Option<ApiInfo>, HomeError> {
        let path = self.api_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| HomeError::BadConfig { path, reason: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(HomeError::Io { path, source: e }),
        }
    }

    pub fn write_api_info(&self, info: &ApiInfo) -> Result<(), HomeError> {
        let bytes = serde_json::to_vec(info)
            .map_err(|e| HomeError::BadConfig { path: self.api_path(), reason: e.to_string() })?;
        write_private(&self.api_path(), &bytes)
    }

    pub fn remove_api_info(&self) {
        let _ = fs::remove_file(self.api_path());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_stale_tmp_file_does_not_lend_its_mode() {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("api.json");
        let stale = path.with_extension("tmp");
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).mode(0o644);
        options.open(&stale).unwrap().write_all(b"left over from a crash").unwrap();
        fs::set_permissions(&stale, fs::Permissions::from_mode(0o644)).unwrap();

        write_private(&path, b"{}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(!stale.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_new_home_is_its_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::TempDir::new().unwrap();
        let home = Home::open(dir.path().join("a").join("home")).unwrap();
        assert_eq!(fs::metadata(home.dir()).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn a_key_whose_rename_was_lost_is_kept_not_replaced() {
        let dir = tempfile::TempDir::new().unwrap();
        let home = Home::open(dir.path()).unwrap();
        let keypair = Keypair::from_secret_bytes([3; 32]);
        // A cut after the key was written and synced, before its rename reached the disk.
        fs::write(home.key_path().with_extension("tmp"), hex::encode(keypair.secret_bytes())).unwrap();

        let key = home.key_or_create().unwrap();
        assert_eq!(key.member_id(), keypair.member_id(), "the same identity, not a new one");
        assert_eq!(home.key().unwrap().unwrap().member_id(), keypair.member_id());
        assert!(matches!(home.write_key(&Keypair::from_secret_bytes([4; 32])), Err(HomeError::KeyExists { .. })));
    }
}
