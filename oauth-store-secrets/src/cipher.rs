//! Encryption of the document with age: to an X25519 identity (the default) or an
//! scrypt passphrase (the Codex CLI's way).

use std::io::{Read, Write};
use std::iter;

use age::{DecryptError, Decryptor, Encryptor, Identity, Recipient};
use base64::Engine as _;
use oauth_store_core::{ExposeSecret, SecretString};
use secrecy::zeroize::Zeroizing;

use crate::key::KeyKind;

/// A parsed key: what decrypts and encrypts the document.
#[derive(Clone)]
pub(crate) enum Key {
    /// An X25519 identity and its public key (computed once: it costs a scalar
    /// multiplication); the document is encrypted to the public key.
    X25519(age::x25519::Identity, age::x25519::Recipient),
    /// An scrypt passphrase, with the work factor new documents are written at
    /// (`None`: age's default, calibrated to about a second on this machine).
    Passphrase(SecretString, Option<u8>),
}

/// Why a document did not decrypt. Never holds plaintext or key text.
#[derive(Debug)]
pub(crate) enum DecryptFailure {
    /// The key does not open it; `scrypt` tells whether the document is
    /// passphrase-encrypted (so a key of the other kind can be named).
    WrongKey {
        /// The document's recipient is an scrypt passphrase.
        scrypt: bool,
    },
    /// The passphrase stanza asks for more scrypt work than this machine accepts.
    ExcessiveWork {
        /// log2 of the work the document asks for.
        required: u8,
    },
    /// Not an age file, or a damaged one (header or payload).
    Corrupt(String),
}

impl Key {
    /// Parses `secret` as a key of `kind`; the reason never quotes the text.
    pub(crate) fn parse(kind: KeyKind, secret: &SecretString) -> Result<Key, &'static str> {
        match kind {
            KeyKind::X25519Identity => secret
                .expose_secret()
                .trim()
                .parse::<age::x25519::Identity>()
                .map(|identity| {
                    let public = identity.to_public();
                    Key::X25519(identity, public)
                }),
            KeyKind::ScryptPassphrase if secret.expose_secret().is_empty() => {
                Err("an empty passphrase")
            }
            KeyKind::ScryptPassphrase => Ok(Key::Passphrase(secret.clone(), None)),
        }
    }

    /// A new random key of `kind`: an X25519 identity's Bech32 text, or (as the Codex
    /// CLI makes them) the base64 text of 32 random bytes.
    pub(crate) fn generate(kind: KeyKind) -> Result<SecretString, getrandom::Error> {
        match kind {
            KeyKind::X25519Identity => Ok(age::x25519::Identity::generate().to_string()),
            KeyKind::ScryptPassphrase => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                getrandom::fill(&mut bytes[..])?;
                Ok(SecretString::from(
                    base64::engine::general_purpose::STANDARD.encode(&bytes[..]),
                ))
            }
        }
    }

    /// Sets the scrypt work factor (log2 N) new documents are written at; no effect
    /// on an X25519 key.
    pub(crate) fn with_work_factor(self, log_n: Option<u8>) -> Key {
        match self {
            Key::Passphrase(p, _) => Key::Passphrase(p, log_n),
            other => other,
        }
    }

    /// Decrypts a binary age document.
    pub(crate) fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, DecryptFailure> {
        let decryptor = Decryptor::new_buffered(ciphertext).map_err(|e| corrupt(&e))?;
        let scrypt = decryptor.is_scrypt();
        let passphrase_identity;
        let identity: &dyn Identity = match self {
            Key::X25519(identity, _) => identity,
            Key::Passphrase(passphrase, _) => {
                passphrase_identity = age::scrypt::Identity::new(passphrase.clone());
                &passphrase_identity
            }
        };
        let mut reader = decryptor
            .decrypt(iter::once(identity))
            .map_err(|e| match e {
                DecryptError::NoMatchingKeys | DecryptError::DecryptionFailed => {
                    DecryptFailure::WrongKey { scrypt }
                }
                DecryptError::ExcessiveWork { required, .. } => {
                    DecryptFailure::ExcessiveWork { required }
                }
                other => corrupt(&other),
            })?;
        let mut plaintext = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
        reader.read_to_end(&mut plaintext).map_err(|e| {
            DecryptFailure::Corrupt(format!("the encrypted payload is damaged ({e})"))
        })?;
        Ok(plaintext)
    }

    /// Encrypts `plaintext` to this key and, during a re-key, also to `also` (both
    /// X25519; age allows an scrypt recipient only alone).
    pub(crate) fn encrypt(&self, also: Option<&Key>, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let mut recipients: Vec<Box<dyn Recipient>> = Vec::with_capacity(2);
        for key in iter::once(self).chain(also) {
            match key {
                Key::X25519(_, public) => recipients.push(Box::new(public.clone())),
                Key::Passphrase(passphrase, log_n) => {
                    let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
                    if let Some(log_n) = log_n {
                        recipient.set_work_factor(*log_n);
                    }
                    recipients.push(Box::new(recipient));
                }
            }
        }
        let encryptor = Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as _))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(plaintext.len() + 512);
        let mut writer = encryptor.wrap_output(&mut out).map_err(|e| e.to_string())?;
        writer.write_all(plaintext).map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// Whether two keys are the same key.
    pub(crate) fn same_as(&self, other: &Key) -> bool {
        match (self, other) {
            (Key::X25519(_, a), Key::X25519(_, b)) => a == b,
            (Key::Passphrase(a, _), Key::Passphrase(b, _)) => {
                a.expose_secret() == b.expose_secret()
            }
            _ => false,
        }
    }
}

fn corrupt(e: &DecryptError) -> DecryptFailure {
    // age's messages name the format problem, never content.
    DecryptFailure::Corrupt(format!("not a readable age file ({e})"))
}
