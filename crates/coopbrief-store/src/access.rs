//! Access tokens (kept as SHA-256 hashes only) and the audit log of changes.
//!
//! The SQL here runs unchanged on SQLite and PostgreSQL: `$n` placeholders, text timestamps
//! (RFC 3339), and only strings and integers bound or read.

use coopbrief_domain::Role;
use jiff::Timestamp;
use sqlx::Row;

use crate::{Error, Result, Store};

/// Largest page of audit entries.
pub const MAX_AUDIT_PAGE: u32 = 500;

/// A token as listed: never its hash, never the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Who created it: a token's name, or `coopbrief-data` for one made on the server.
    pub created_by: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// The token stored under a hash, with the hash, for the caller's constant-time comparison.
#[derive(Clone, Debug)]
pub struct StoredToken {
    pub token: TokenRecord,
    pub token_hash: String,
}

/// What registering a token given at start did (see [`Store::bootstrap_token`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bootstrapped {
    /// The token was new and its name free: stored.
    Created,
    /// The token was new and another live token held its name: that one revoked, this stored.
    Rotated,
    /// Stored already (an earlier start, or another replica starting at the same time).
    Present,
    /// Stored already and revoked since: it stays revoked.
    Revoked,
}

/// One audit entry to write.
#[derive(Clone, Debug)]
pub struct NewAuditEntry<'a> {
    /// The caller's token name.
    pub actor: &'a str,
    pub role: &'a str,
    /// The RPC, e.g. `UpdatePartner`.
    pub method: &'a str,
    /// What it changed, e.g. `partners/hanoi`.
    pub resource: &'a str,
    /// What changed, as JSON.
    pub changes: &'a str,
}

/// One audit entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub role: String,
    pub method: String,
    pub resource: String,
    pub changes: String,
}

const TOKEN_COLUMNS: &str = "id, name, role, created_by, created_at, revoked_at";

fn corrupt(what: &'static str) -> impl Fn(String) -> Error {
    move |message| Error::Corrupt { what, message }
}

fn time(value: &str, what: &'static str) -> Result<Timestamp> {
    value.parse().map_err(|e| corrupt(what)(format!("time {value:?}: {e}")))
}

impl TokenRecord {
    fn parse(
        id: String,
        name: String,
        role: String,
        created_by: String,
        created_at: String,
        revoked_at: Option<String>,
    ) -> Result<TokenRecord> {
        Ok(TokenRecord {
            role: role.parse().map_err(|e| corrupt("token")(format!("{e}")))?,
            created_at: time(&created_at, "token")?,
            revoked_at: revoked_at.as_deref().map(|t| time(t, "token")).transpose()?,
            id,
            name,
            created_by,
        })
    }
}

/// Reads a [`TokenRecord`] from a row of [`TOKEN_COLUMNS`], whatever the database.
macro_rules! token_from_row {
    ($row:expr) => {
        TokenRecord::parse(
            $row.try_get("id")?,
            $row.try_get("name")?,
            $row.try_get("role")?,
            $row.try_get("created_by")?,
            $row.try_get("created_at")?,
            $row.try_get("revoked_at")?,
        )
    };
}

impl Store {
    /// Stores a new token by its hash. A token not revoked holds its name: a second one is
    /// `AlreadyExists`.
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        token_hash: &str,
        created_by: &str,
    ) -> Result<TokenRecord> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = Timestamp::now().to_string();
        let inserted = sqlx::query(
            "INSERT INTO access_tokens (id, name, role, token_hash, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(created_by)
        .bind(&now)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(Error::AlreadyExists { what: "token", key: name.to_owned() });
            }
            Err(e) => return Err(e.into()),
        }
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE id = $1"))
            .bind(&id)
            .fetch_one(&self.pool)
            .await?;
        token_from_row!(row)
    }

    /// Registers a token given at start (a secret file) under `name` with `role`, once:
    /// a token stored already is left as it is (revoked ones stay revoked); a new token takes
    /// the name, revoking the live token that held it (a rotation), in one transaction. Any
    /// number of replicas may call this at once: the unique hash and the unique live name
    /// make one of them store it and the others find it. The hash stored under another name
    /// or role is `AlreadyExists`.
    pub async fn bootstrap_token(
        &self,
        name: &str,
        role: Role,
        token_hash: &str,
        created_by: &str,
    ) -> Result<Bootstrapped> {
        let found = |stored: StoredToken| {
            if stored.token.name != name || stored.token.role != role {
                return Err(Error::AlreadyExists { what: "token", key: stored.token.name });
            }
            Ok(if stored.token.revoked_at.is_some() { Bootstrapped::Revoked } else { Bootstrapped::Present })
        };
        if let Some(stored) = self.token_by_hash(token_hash).await? {
            return found(stored);
        }
        let now = Timestamp::now().to_string();
        let mut tx = self.pool.begin().await?;
        let revoked = sqlx::query(
            "UPDATE access_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL AND token_hash <> $3",
        )
        .bind(&now)
        .bind(name)
        .bind(token_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let inserted = sqlx::query(
            "INSERT INTO access_tokens (id, name, role, token_hash, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(name)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(created_by)
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            // Another replica stored it first: change nothing here.
            tx.rollback().await?;
            let stored = self.token_by_hash(token_hash).await?;
            return stored.map_or(Err(Error::AlreadyExists { what: "token", key: name.to_owned() }), found);
        }
        tx.commit().await?;
        Ok(if revoked > 0 { Bootstrapped::Rotated } else { Bootstrapped::Created })
    }

    /// The token stored under `token_hash`, revoked or not; `None` when there is none.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<StoredToken>> {
        let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS}, token_hash FROM access_tokens WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredToken { token: token_from_row!(row)?, token_hash: row.try_get("token_hash")? }))
    }

    /// Tokens by name, then oldest first; revoked ones only with `include_revoked`.
    pub async fn tokens(&self, include_revoked: bool) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE revoked_at IS NULL OR $1 = 1 ORDER BY name, created_at, id"
        ))
        .bind(i64::from(include_revoked))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| token_from_row!(row)).collect()
    }

    /// Tokens by name (then oldest first: ids are UUIDv7), revoked ones only with
    /// `include_revoked`; one page, with the store's keyset token.
    pub async fn tokens_page(
        &self,
        include_revoked: bool,
        page: &crate::PageRequest,
    ) -> Result<crate::Paged<TokenRecord>> {
        use crate::resources::{Token, decode_token, fingerprint};
        let query = fingerprint("tokens", &include_revoked);
        let mut q =
            crate::sql::Sql::new(format!("SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE (revoked_at IS NULL OR "));
        q.bind(i64::from(include_revoked)).push(" = 1)");
        if let Some(token) = &page.token {
            let t = decode_token(token, &query)?;
            q.push(" AND (name, id) > (").bind(t.programme).push(", ").bind(t.code).push(")");
        }
        q.push(" ORDER BY name, id LIMIT ").bind(page.probe());
        let rows = q.query().fetch_all(&self.pool).await?;
        let tokens = rows.iter().map(|row| token_from_row!(row)).collect::<Result<Vec<_>>>()?;
        page.cut(tokens, |t| Token {
            q: query.clone(),
            programme: t.name.clone(),
            code: t.id.clone(),
            ..Token::default()
        })
    }

    /// Revokes the token named `name` (the one not revoked yet); `NotFound` if there is none.
    pub async fn revoke_token(&self, name: &str) -> Result<TokenRecord> {
        let row = sqlx::query(&format!(
            "UPDATE access_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(Timestamp::now().to_string())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => token_from_row!(row),
            None => Err(Error::NotFound { what: "token", key: name.to_owned() }),
        }
    }

    /// Appends an entry to the audit log and returns its id.
    pub async fn add_audit_entry(&self, entry: &NewAuditEntry<'_>) -> Result<i64> {
        insert_audit(&mut *self.pool.acquire().await?, entry).await
    }

    /// Audit entries newest first: at most `size` (clamped to 1..=[`MAX_AUDIT_PAGE`]) older
    /// than entry `before`, and the cursor of the next page if there may be one.
    pub async fn audit_entries(&self, size: u32, before: Option<i64>) -> Result<(Vec<AuditEntry>, Option<i64>)> {
        let size = size.clamp(1, MAX_AUDIT_PAGE);
        let rows = sqlx::query(
            "SELECT id, at, actor, role, method, resource, changes FROM audit_log
             WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(size))
        .fetch_all(&self.pool)
        .await?;
        let entries = rows
            .iter()
            .map(|row| {
                let at: String = row.try_get("at")?;
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    at: time(&at, "audit entry")?,
                    actor: row.try_get("actor")?,
                    role: row.try_get("role")?,
                    method: row.try_get("method")?,
                    resource: row.try_get("resource")?,
                    changes: row.try_get("changes")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next = if entries.len() == size as usize { entries.last().map(|e| e.id) } else { None };
        Ok((entries, next))
    }
}

/// Appends an audit entry on `conn` — in the transaction of the change it records, where there
/// is one, so that a committed change always has its entry.
pub(crate) async fn insert_audit(conn: &mut sqlx::AnyConnection, entry: &NewAuditEntry<'_>) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (at, actor, role, method, resource, changes)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(Timestamp::now().to_string())
    .bind(entry.actor)
    .bind(entry.role)
    .bind(entry.method)
    .bind(entry.resource)
    .bind(entry.changes)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/db.sqlite", dir.path().display())).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_token_is_found_by_its_hash_and_listed_without_it() {
        let (_dir, store) = store().await;
        let made = store.create_token("alice", Role::Editor, &"a".repeat(64), "ops").await.unwrap();
        assert_eq!((made.name.as_str(), made.role, made.created_by.as_str()), ("alice", Role::Editor, "ops"));
        assert_eq!(made.revoked_at, None);

        let found = store.token_by_hash(&"a".repeat(64)).await.unwrap().unwrap();
        assert_eq!(found.token, made);
        assert_eq!(found.token_hash, "a".repeat(64));
        assert!(store.token_by_hash(&"b".repeat(64)).await.unwrap().is_none());
        assert_eq!(store.tokens(false).await.unwrap(), vec![made]);
    }

    #[tokio::test]
    async fn one_live_token_per_name_and_a_revoked_name_can_be_reused() {
        let (_dir, store) = store().await;
        store.create_token("alice", Role::Viewer, &"1".repeat(64), "ops").await.unwrap();
        let twice = store.create_token("alice", Role::Admin, &"2".repeat(64), "ops").await;
        assert!(matches!(twice, Err(Error::AlreadyExists { what: "token", ref key }) if key == "alice"), "{twice:?}");
        // The same hash under another name is refused too (the column is unique).
        let same = store.create_token("bob", Role::Admin, &"1".repeat(64), "ops").await;
        assert!(matches!(same, Err(Error::AlreadyExists { .. })), "{same:?}");

        let revoked = store.revoke_token("alice").await.unwrap();
        assert!(revoked.revoked_at.is_some());
        let stored = store.token_by_hash(&"1".repeat(64)).await.unwrap().unwrap();
        assert!(stored.token.revoked_at.is_some(), "a revoked token is still found, marked revoked");
        let again = store.revoke_token("alice").await;
        assert!(matches!(again, Err(Error::NotFound { what: "token", .. })), "{again:?}");

        let new = store.create_token("alice", Role::Admin, &"3".repeat(64), "ops").await.unwrap();
        assert_eq!(store.tokens(false).await.unwrap(), vec![new.clone()]);
        let all = store.tokens(true).await.unwrap();
        assert_eq!(
            all.iter().map(|t| (t.role, t.revoked_at.is_some())).collect::<Vec<_>>(),
            [(Role::Viewer, true), (Role::Admin, false)]
        );
    }

    #[tokio::test]
    async fn audit_entries_page_newest_first() {
        let (_dir, store) = store().await;
        for i in 0..5 {
            let resource = format!("partners/p{i}");
            let changes = format!("{{\"i\":{i}}}");
            let entry = NewAuditEntry {
                actor: "alice",
                role: "editor",
                method: "UpdatePartner",
                resource: &resource,
                changes: &changes,
            };
            store.add_audit_entry(&entry).await.unwrap();
        }
        let (first, next) = store.audit_entries(2, None).await.unwrap();
        assert_eq!(first.iter().map(|e| e.resource.as_str()).collect::<Vec<_>>(), ["partners/p4", "partners/p3"]);
        assert_eq!((first[0].actor.as_str(), first[0].role.as_str()), ("alice", "editor"));
        assert_eq!((first[0].method.as_str(), first[0].changes.as_str()), ("UpdatePartner", "{\"i\":4}"));
        let (second, next) = store.audit_entries(2, next).await.unwrap();
        assert_eq!(second.iter().map(|e| e.resource.as_str()).collect::<Vec<_>>(), ["partners/p2", "partners/p1"]);
        let (last, next) = store.audit_entries(2, next).await.unwrap();
        assert_eq!(last.iter().map(|e| e.resource.as_str()).collect::<Vec<_>>(), ["partners/p0"]);
        assert_eq!(next, None);
    }
}
