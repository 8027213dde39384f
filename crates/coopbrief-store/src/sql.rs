//! The little SQL that differs between SQLite and PostgreSQL, and a query builder that numbers
//! its placeholders `$1, $2 …` (the one form both engines read).

use sqlx::Arguments;
use sqlx::any::{Any, AnyArguments};

use crate::Backend;

/// A query assembled piece by piece, with its arguments.
#[derive(Default)]
pub(crate) struct Sql {
    text: String,
    args: AnyArguments<'static>,
    n: usize,
}

impl Sql {
    pub(crate) fn new(text: impl Into<String>) -> Sql {
        Sql { text: text.into(), ..Sql::default() }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends the next placeholder and binds `value` to it.
    pub(crate) fn bind<T>(&mut self, value: T) -> &mut Sql
    where
        T: sqlx::Encode<'static, Any> + sqlx::Type<Any> + Send + 'static,
    {
        self.n += 1;
        self.text.push('$');
        self.text.push_str(&self.n.to_string());
        // Adding a String or an i64 to AnyArguments cannot fail; an error here is a bug.
        if let Err(e) = self.args.add(value) {
            tracing::error!(error = %e, "a query argument could not be encoded");
        }
        self
    }

    /// The query, ready to run (its arguments move into it).
    pub(crate) fn query(&mut self) -> sqlx::query::Query<'_, Any, AnyArguments<'_>> {
        sqlx::query_with(&self.text, std::mem::take(&mut self.args))
    }
}

/// `column`'s JSON text field `key` as text.
pub(crate) fn json_text(backend: Backend, column: &str, key: &str) -> String {
    match backend {
        Backend::Sqlite => format!("json_extract({column}, '$.{key}')"),
        Backend::Postgres => format!("({column}::jsonb ->> '{key}')"),
    }
}

/// A condition: the JSON array `key` of `column` holds the text `value` (an SQL expression).
pub(crate) fn json_array_has(backend: Backend, column: &str, key: &str, value: &str) -> String {
    match backend {
        Backend::Sqlite => format!("EXISTS (SELECT 1 FROM json_each({column}, '$.{key}') WHERE value = {value})"),
        Backend::Postgres => {
            format!(
                "EXISTS (SELECT 1 FROM jsonb_array_elements_text({column}::jsonb -> '{key}') AS e(v) WHERE e.v = {value})"
            )
        }
    }
}
