//! Secrets from files (Docker secrets): every setting whose environment value is hidden
//! (`hide_env_values`: tokens, URLs that carry a password, passwords) may instead be given as
//! `<VARIABLE>_FILE`, the path of a file that holds it, read before the settings are parsed.
//!
//! One place for the three binaries: `coopbrief_runtime::secrets::parse::<Settings>()` in place
//! of `Settings::parse()`. The file's value stands where the variable would: a flag still wins
//! over it. Setting both `X` and `X_FILE` is an error naming them.

use std::ffi::OsString;
use std::path::Path;

use clap::error::ErrorKind;
use clap::{Command, Parser};

/// The largest secret file read: a secret is a line, not a document.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Parses `P` from the process's arguments and environment, `X_FILE` variables included;
/// prints the error and exits (as clap does) on a bad setting.
pub fn parse<P: Parser>() -> P {
    try_parse_from(std::env::args_os(), &|name| std::env::var_os(name)).unwrap_or_else(|e| e.exit())
}

/// [`parse`] from these arguments, with the environment looked up through `env` (for tests).
pub fn try_parse_from<P: Parser>(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<P, clap::Error> {
    let mut cmd = with_secret_files(P::command(), env)?;
    let mut matches = cmd.try_get_matches_from_mut(args)?;
    P::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut cmd))
}

/// `cmd` with each secret argument's `X_FILE` (when set) read into its default value.
fn with_secret_files(mut cmd: Command, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Command, clap::Error> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let secrets: Vec<_> = cmd
        .get_arguments()
        .filter(|arg| arg.is_hide_env_values_set())
        .filter_map(|arg| Some((arg.get_id().clone(), arg.get_env()?.to_string_lossy().into_owned())))
        .collect();
    for (id, var) in secrets {
        let file_var = format!("{var}_FILE");
        let Some(path) = set(&file_var) else { continue };
        if set(&var).is_some() {
            return Err(cmd.error(
                ErrorKind::ArgumentConflict,
                format!("{var} and {file_var} are both set: give the secret one way"),
            ));
        }
        let value = read_secret(Path::new(&path)).map_err(|e| {
            cmd.error(ErrorKind::Io, format!("{file_var}: cannot read {}: {e}", path.to_string_lossy()))
        })?;
        cmd = cmd.mut_arg(id, |arg| arg.default_value(value).hide_default_value(true));
    }
    Ok(cmd)
}

/// The secret a file holds: its text without the line breaks that end it (an editor's or
/// `echo`'s newline is not part of a token or a password).
pub fn read_secret(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?.take(MAX_SECRET_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(std::io::Error::other(format!("larger than {} KiB", MAX_SECRET_BYTES / 1024)));
    }
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// Errors putting a password into a URL.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("{variable} is set, but the URL is not of a server with a user (scheme://user@host/…)")]
    NoUser { variable: String },
    #[error("{variable} is set, but the URL carries a password too: give it one way")]
    Twice { variable: String },
}

/// `url` with `password` (from the variable `variable`) as its password, percent-encoded;
/// `url` itself when there is none. The URL must name a user and no password.
pub fn with_password(url: &str, password: Option<&str>, variable: &str) -> Result<String, PasswordError> {
    let Some(password) = password else { return Ok(url.to_owned()) };
    let no_user = || PasswordError::NoUser { variable: variable.to_owned() };
    let mut parsed = url::Url::parse(url).map_err(|_| no_user())?;
    if parsed.username().is_empty() || !parsed.has_host() || parsed.scheme() == "sqlite" {
        return Err(no_user());
    }
    if parsed.password().is_some() {
        return Err(PasswordError::Twice { variable: variable.to_owned() });
    }
    parsed.set_password(Some(password)).map_err(|()| no_user())?;
    Ok(parsed.into())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Settings {
        #[arg(long, env = "T_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[arg(long, env = "T_URL", default_value = "amqp://guest:guest@localhost", hide_env_values = true)]
        url: String,
        /// Not a secret: no `_FILE`.
        #[arg(long, env = "T_QUEUE", default_value = "q")]
        queue: String,
    }

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Settings, String> {
        let env: HashMap<String, OsString> = env.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        try_parse_from([&["prog"], args].concat(), &|name| env.get(name).cloned()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_secret_comes_from_its_file_without_the_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "cb_from_file\n").unwrap();
        let path = token.to_str().unwrap();
        let s = parse(&[], &[("T_TOKEN_FILE", path), ("T_QUEUE_FILE", path)]).unwrap();
        assert_eq!(s.token.as_deref(), Some("cb_from_file"));
        assert_eq!(s.queue, "q", "only hidden (secret) settings read a file");
        assert_eq!(s.url, "amqp://guest:guest@localhost");
        let s = parse(&["--token", "cb_flag"], &[("T_TOKEN_FILE", path)]).unwrap();
        assert_eq!(s.token.as_deref(), Some("cb_flag"), "a flag wins over the file, as over the variable");
        assert_eq!(parse(&[], &[]).unwrap().token, None);
    }

    #[test]
    fn both_the_variable_and_its_file_or_an_unreadable_file_are_refused_naming_them() {
        let both = parse(&[], &[("T_TOKEN", "cb_x"), ("T_TOKEN_FILE", "/etc/hostname")]).unwrap_err();
        assert!(both.contains("T_TOKEN and T_TOKEN_FILE are both set"), "{both}");
        let missing = parse(&[], &[("T_URL_FILE", "/nonexistent/url")]).unwrap_err();
        assert!(missing.contains("T_URL_FILE: cannot read /nonexistent/url"), "{missing}");
    }

    #[test]
    fn a_password_goes_into_the_url_encoded_and_only_once() {
        let url = "postgres://coopbrief@postgres:5432/coopbrief?sslmode=require";
        assert_eq!(with_password(url, None, "P").unwrap(), url);
        assert_eq!(
            with_password(url, Some("p@ss/w:rd"), "P").unwrap(),
            "postgres://coopbrief:p%40ss%2Fw%3Ard@postgres:5432/coopbrief?sslmode=require"
        );
        assert_eq!(
            with_password("amqps://coopbrief@rabbitmq/%2f", Some("s"), "P").unwrap(),
            "amqps://coopbrief:s@rabbitmq/%2f"
        );
        let twice = with_password("amqp://guest:guest@localhost/%2f", Some("x"), "P").unwrap_err();
        assert!(matches!(twice, PasswordError::Twice { .. }), "{twice}");
        for no_user in ["postgres://postgres/db", "sqlite://var/coopbrief.db", "not a url"] {
            assert!(matches!(with_password(no_user, Some("x"), "P"), Err(PasswordError::NoUser { .. })), "{no_user}");
        }
    }
}
