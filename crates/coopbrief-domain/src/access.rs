//! Who may call what: the roles a bearer token carries.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The role of a token. People's roles: a viewer reads; an editor also changes data; an
/// approver also issues briefings (but changes no data: who records the figures is not who
/// signs them); an admin may do all of it. `Worker` stands apart: only the worker-facing RPCs,
/// which no person's role reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads data, requests, follows and downloads reports, reads schedules.
    Viewer,
    /// Also changes data, imports programmes, cancels and retries reports.
    Editor,
    /// A viewer who also issues briefings: numbers and signs them.
    Approver,
    /// Also creates and revokes tokens, changes schedules, reads the audit log.
    Admin,
    /// A worker: starts, completes and fails reports and reads their briefing data.
    Worker,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Viewer, Role::Editor, Role::Approver, Role::Admin, Role::Worker];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Approver => "approver",
            Role::Admin => "admin",
            Role::Worker => "worker",
        }
    }

    /// Whether a holder of `self` may do what `required` may. A worker holds only `Worker`,
    /// and `Worker` is held by nobody else.
    pub fn includes(&self, required: Role) -> bool {
        use Role::*;
        match (self, required) {
            (Worker, Worker) => true,
            (Worker, _) | (_, Worker) => false,
            (Admin, _) => true,
            (_, Viewer) => true,
            (have, need) => *have == need,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        Role::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            Error::invalid("role", format!("{s:?} is not one of viewer, editor, approver, admin, worker"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_roles_include_the_viewer_the_admin_all_and_the_worker_stands_apart() {
        let (v, e, p, a, w) = (Role::Viewer, Role::Editor, Role::Approver, Role::Admin, Role::Worker);
        let table = [
            (v, [true, false, false, false, false]),
            (e, [true, true, false, false, false]),
            (p, [true, false, true, false, false]),
            (a, [true, true, true, true, false]),
            (w, [false, false, false, false, true]),
        ];
        for (have, expected) in table {
            let got = [v, e, p, a, w].map(|need| have.includes(need));
            assert_eq!(got, expected, "{have} includes [viewer, editor, approver, admin, worker]");
        }
    }

    #[test]
    fn roles_parse_by_name_and_an_unknown_one_names_the_field() {
        assert_eq!("Editor".parse::<Role>().ok(), Some(Role::Editor));
        let err = "root".parse::<Role>().map(|_| ()).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("role: \"root\" is not one of viewer, editor, approver, admin, worker"));
    }
}
