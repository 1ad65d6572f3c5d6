//! The secret key that signs access tokens and local storage URLs: from
//! `CUTROOM_SECRET_KEY`, or generated once and kept in the data folder.

use anyhow::{Context, bail};
use secrecy::SecretString;

/// The shortest secret key accepted, from the environment or the file.
const MIN_SECRET_LEN: usize = 32;

/// `CUTROOM_SECRET_KEY` (`from_env`) when set, else the data folder's key.
pub(super) fn secret_key(
    from_env: Option<String>,
    data_dir: &std::path::Path,
) -> anyhow::Result<SecretString> {
    Ok(match from_env {
        Some(s) if s.len() < MIN_SECRET_LEN => {
            bail!("CUTROOM_SECRET_KEY must be at least {MIN_SECRET_LEN} characters")
        }
        Some(s) => SecretString::from(s),
        None => load_or_create_secret(data_dir)?,
    })
}

/// The embedded default keeps a generated secret in the data folder, so a
/// restart keeps tokens and URLs valid without the user choosing one.
fn load_or_create_secret(data_dir: &std::path::Path) -> anyhow::Result<SecretString> {
    use std::io::Write;
    let path = data_dir.join("secret.key");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        // An empty or short key (a truncated copy, a file made by hand)
        // would let anyone sign access tokens and storage URLs.
        if s.len() < MIN_SECRET_LEN {
            bail!(
                "{} holds {} characters; the secret key needs at least {MIN_SECRET_LEN}. \
                 Delete the file to have a new one generated (signed-in sessions and \
                 stored LLM keys then stop working), or put a random key in it \
                 (`openssl rand -hex 32`)",
                path.display(),
                s.len()
            );
        }
        return Ok(SecretString::from(s.to_owned()));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(secret.as_bytes())?;
    Ok(SecretString::from(secret))
}
