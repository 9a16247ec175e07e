//! Where a home keeps its documents, locks and keyring entries (DESIGN.md "Layout").

use std::path::{Path, PathBuf};

use std::sync::Arc;

use oauth_store_core::{StoreError, StoreKey, sha256_hex};
use std::time::Duration;

use oauth_store_keyring::{KeyringStore, SecretEntry};
use oauth_store_secrets::{CodexPassphrase, KeyKind, KeySource, KeyringKey, SecretsStore};

/// Which naming scheme a home follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LayoutPreset {
    /// This project's own: home `$OAUTH_STORE_HOME` or the platform data directory +
    /// `oauth-store`; keyring accounts carry the home.
    #[default]
    Default,
    /// The Codex CLI's: home `$CODEX_HOME` or `~/.codex`; keyring service
    /// `Codex MCP Credentials`, account = store key; the File document is read under the
    /// store lock (that CLI writes in place); a rejected grant removes the entry.
    Codex,
}

impl LayoutPreset {
    /// `default` or `codex`.
    pub fn as_str(&self) -> &'static str {
        match self {
            LayoutPreset::Default => "default",
            LayoutPreset::Codex => "codex",
        }
    }
}

impl std::str::FromStr for LayoutPreset {
    type Err = oauth_store_core::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(LayoutPreset::Default),
            "codex" => Ok(LayoutPreset::Codex),
            _ => Err(oauth_store_core::UnknownName {
                what: "layout",
                name: s.to_owned(),
            }),
        }
    }
}

/// The paths and names of one home under one preset.
///
/// | what | path |
/// | --- | --- |
/// | File store | `.credentials.json` |
/// | Secrets store | `secrets/mcp_oauth.age` |
/// | locks | `mcp-oauth-locks/` |
/// | drift sidecar | `.mcp-oauth-store-resolutions.json` |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLayout {
    home: PathBuf,
    preset: LayoutPreset,
}

impl StoreLayout {
    /// A layout of `home` under `preset`.
    pub fn new(home: impl Into<PathBuf>, preset: LayoutPreset) -> Self {
        StoreLayout {
            home: home.into(),
            preset,
        }
    }

    /// The preset's default home: for [`LayoutPreset::Default`] `$OAUTH_STORE_HOME`,
    /// else `$XDG_DATA_HOME/oauth-store`, else `~/.local/share/oauth-store`; for
    /// [`LayoutPreset::Codex`] `$CODEX_HOME`, else `~/.codex`. `None` when no home
    /// directory can be found.
    pub fn default_home(preset: LayoutPreset) -> Option<PathBuf> {
        let env = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let user_home = env("HOME");
        match preset {
            LayoutPreset::Default => env("OAUTH_STORE_HOME").or_else(|| {
                env("XDG_DATA_HOME")
                    .or_else(|| user_home.map(|h| h.join(".local/share")))
                    .map(|d| d.join("oauth-store"))
            }),
            LayoutPreset::Codex => {
                env("CODEX_HOME").or_else(|| user_home.map(|h| h.join(".codex")))
            }
        }
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The preset.
    pub fn preset(&self) -> LayoutPreset {
        self.preset
    }

    /// The File store document: `<home>/.credentials.json`.
    pub fn file_document(&self) -> PathBuf {
        self.home.join(".credentials.json")
    }

    /// The Secrets store document: `<home>/secrets/mcp_oauth.age`.
    pub fn secrets_document(&self) -> PathBuf {
        self.home.join("secrets").join("mcp_oauth.age")
    }

    /// The lock directory: `<home>/mcp-oauth-locks`.
    pub fn lock_dir(&self) -> PathBuf {
        self.home.join("mcp-oauth-locks")
    }

    /// The drift sidecar document: `<home>/.mcp-oauth-store-resolutions.json`.
    pub fn sidecar_document(&self) -> PathBuf {
        self.home.join(".mcp-oauth-store-resolutions.json")
    }

    /// First 16 lowercase hex of SHA-256 of the canonical home path (the home as given
    /// when it cannot be canonicalized).
    pub fn home_hash(&self) -> String {
        let canonical = std::fs::canonicalize(&self.home).unwrap_or_else(|_| self.home.clone());
        sha256_hex(canonical.as_os_str().as_encoded_bytes())[..16].to_owned()
    }

    /// The keyring service of per-credential entries: `oauth-store`, or under the codex
    /// preset `Codex MCP Credentials`.
    pub fn keyring_service(&self) -> &'static str {
        match self.preset {
            LayoutPreset::Default => "oauth-store",
            LayoutPreset::Codex => "Codex MCP Credentials",
        }
    }

    /// The keyring account of `key`'s entry: `<home hash>/<store key>`, or under the
    /// codex preset the store key alone (two codex homes share entries: a Limitation).
    pub fn keyring_account(&self, key: &StoreKey) -> String {
        match self.preset {
            LayoutPreset::Default => format!("{}/{}", self.home_hash(), key.as_str()),
            LayoutPreset::Codex => key.as_str().to_owned(),
        }
    }

    /// Service and account of the Secrets store's key in the keyring: (`oauth-store` or
    /// `codex`, `secrets|<home hash>`).
    pub fn secrets_key_entry(&self) -> (&'static str, String) {
        let service = match self.preset {
            LayoutPreset::Default => "oauth-store",
            LayoutPreset::Codex => "codex",
        };
        (service, format!("secrets|{}", self.home_hash()))
    }

    /// The OS keyring store of this layout: service [`StoreLayout::keyring_service`],
    /// accounts [`StoreLayout::keyring_account`], every call bounded (default 5 s).
    pub fn keyring_store(&self) -> KeyringStore {
        let prefix = match self.preset {
            LayoutPreset::Default => Some(self.home_hash()),
            LayoutPreset::Codex => None,
        };
        KeyringStore::new(self.keyring_service(), prefix)
    }

    /// The Secrets store of this layout, its key in the OS keyring
    /// ([`StoreLayout::secrets_key_entry`], calls bounded by the keyring default of
    /// 5 s); under the codex preset the Codex CLI's scrypt passphrase.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the home cannot be created.
    pub fn secrets_store(&self) -> Result<SecretsStore, StoreError> {
        self.secrets_store_with(oauth_store_keyring::DEFAULT_TIMEOUT)
    }

    /// As [`StoreLayout::secrets_store`], each keyring call for the key bounded by
    /// `keyring_timeout`.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the home cannot be created.
    pub fn secrets_store_with(
        &self,
        keyring_timeout: Duration,
    ) -> Result<SecretsStore, StoreError> {
        let (service, account) = self.secrets_key_entry();
        let entry = SecretEntry::new(service, account).with_timeout(keyring_timeout);
        let key: Arc<dyn KeySource> = match self.preset {
            LayoutPreset::Default => Arc::new(KeyringKey::from_entry(entry)),
            LayoutPreset::Codex => Arc::new(CodexPassphrase::over(Arc::new(
                KeyringKey::from_entry(entry).with_kind(KeyKind::ScryptPassphrase),
            ))),
        };
        SecretsStore::in_home(&self.home, key)
    }
}
