//! The `coopbrief` binary against a running data service: what reaches the reader's terminal.

use coopbrief_tests::spawn_app;
use sqlx::Connection;

/// Clears the screen, sets the window title, rings the bell, then reverses the line.
const HOSTILE: &str = "\x1b[2J\x1b]0;pwned\x07\u{202e}Hà Nam";

/// Runs `coopbrief ARGS` against the app and returns its standard output.
fn coopbrief(endpoint: &str, args: &[&str]) -> Vec<u8> {
    let out = coopbrief_tests::cli(endpoint, None).args(args).output().expect("coopbrief runs");
    assert!(out.status.success(), "coopbrief {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_stored_text_are_shown_not_obeyed() {
    let app = spawn_app(false).await;
    // Written past the API, as data an older version may have stored.
    let url = format!("sqlite://{}/coopbrief.db", app.dir.path().display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.expect("database opens");
    let changed = sqlx::query("UPDATE partners SET body = json_set(body, '$.name.vi', ?) WHERE code = 'hanam'")
        .bind(HOSTILE)
        .execute(&mut db)
        .await
        .expect("partner updated");
    assert_eq!(changed.rows_affected(), 1);
    db.close().await.expect("database closes");

    let outputs = [
        &["partner", "list"][..],
        &["partner", "get", "hanam"],
        &["partner", "list", "-o", "json"],
        &["partner", "get", "hanam", "-o", "yaml"],
    ];
    for args in outputs {
        let stdout = coopbrief(&app.endpoint, args);
        let text = String::from_utf8(stdout.clone()).expect("utf-8");
        for bad in [0x1b, 0x07] {
            assert!(!stdout.contains(&bad), "coopbrief {args:?} printed byte {bad:#x}: {text:?}");
        }
        assert!(!text.contains('\u{202e}'), "coopbrief {args:?} printed a bidi override: {text:?}");
        // People see `\u{1b}`; the documents keep the value, escaped in their own syntax.
        let shown = if args.contains(&"-o") { "\\u001b[2J" } else { "\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{202e}Hà Nam" };
        assert!(text.contains(shown), "coopbrief {args:?}: {text}");
    }
    app.stop().await;
}
