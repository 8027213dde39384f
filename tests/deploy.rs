//! The compose topology as processes on this machine (no Docker engine runs here): two data
//! services on one fresh PostgreSQL database, two workers, the real RabbitMQ, the environment
//! variables `deploy/compose.yaml` sets, access control on — and a report made through it with
//! a token.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use coopbrief_store::testing::TestDb;
use coopbrief_tests::{
    Process, assert_pdf_contains, cli, compose_env, free_port, rabbitmq, run, token_in, workspace_binary,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_data_replicas_on_postgres_and_two_workers_make_a_report_with_a_token() {
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let pdf_dir = dir.path().join("pdf");
    let queue = format!("coopbrief.test.deploy.{}", uuid::Uuid::now_v7());
    drop(rabbitmq(&queue, 1).await);

    // The first admin token, made on the database as an operator would (`docker compose run`).
    let mut admin = Command::new(workspace_binary("coopbrief-data"));
    compose_env(&mut admin, &db, &pdf_dir, &queue);
    let admin = token_in(&run(admin.args(["token", "create", "--name", "ops", "--role", "admin"])));

    // Two data-service replicas, as `deploy.replicas: 2` starts them.
    let mut replicas = Vec::new();
    let mut endpoints = Vec::new();
    for _ in 0..2 {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(workspace_binary("coopbrief-data"));
        compose_env(&mut cmd, &db, &pdf_dir, &queue);
        cmd.env("COOPBRIEF_LISTEN", &listen);
        replicas.push(Process(cmd.spawn().expect("coopbrief-data starts")));
        endpoints.push((listen.clone(), format!("http://{listen}")));
    }
    // Their health checks, as compose runs them.
    for (listen, _) in &endpoints {
        let started = Instant::now();
        loop {
            let mut check = Command::new(workspace_binary("coopbrief-data"));
            check.arg("healthcheck").env("COOPBRIEF_LISTEN", listen).stdout(Stdio::null()).stderr(Stdio::null());
            if check.status().map(|s| s.success()).unwrap_or(false) {
                println!("$ coopbrief-data healthcheck ({listen}): SERVING");
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "data replica at {listen} never became healthy");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let (first, second) = (&endpoints[0].1, &endpoints[1].1);

    // Tokens for the workers and for a person, made through the first replica.
    let worker_token =
        token_in(&run(cli(first, Some(&admin)).args(["token", "create", "--name", "workers", "--role", "worker"])));
    let viewer =
        token_in(&run(cli(second, Some(&admin)).args(["token", "create", "--name", "an", "--role", "viewer"])));

    // Two workers, one per replica.
    let mut workers = Vec::new();
    for (_, endpoint) in &endpoints {
        let mut cmd = Command::new(workspace_binary("coopbrief-worker"));
        compose_env(&mut cmd, &db, &pdf_dir, &queue);
        cmd.env("COOPBRIEF_DATA_ENDPOINT", endpoint)
            .env("COOPBRIEF_TOKEN", &worker_token)
            .env("COOPBRIEF_PREFETCH", "2");
        workers.push(Process(cmd.spawn().expect("coopbrief-worker starts")));
    }

    // Without a token: refused.
    let refused = run(cli(first, None).args(["report", "list"]));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).to_lowercase().contains("unauthenticated"));

    // With the viewer's token: a briefing through the first replica …
    let a = dir.path().join("a.pdf");
    let created = run(cli(first, Some(&viewer))
        .args(["report", "create", "--programme", "hanoi-hanam", "--period", "2019", "--out"])
        .arg(&a));
    assert!(created.status.success(), "report create failed");
    assert_pdf_contains(&a, &["BÁO CÁO", "Hà Nội", "Hà Nam", "10.900"]);
    // … and the same briefing downloaded through the second.
    let listed = run(cli(second, Some(&viewer)).args(["report", "latest", "--programme", "hanoi-hanam"]));
    assert!(listed.status.success());
    let text = String::from_utf8_lossy(&listed.stdout).to_string();
    let id =
        text.split_whitespace().find(|w| w.len() == 36 && w.matches('-').count() == 4).expect("a report id").to_owned();
    let b = dir.path().join("b.pdf");
    let downloaded = run(cli(second, Some(&viewer)).args(["report", "download", &id, "--out"]).arg(&b));
    assert!(downloaded.status.success());
    assert_eq!(std::fs::read(&a).expect("a.pdf"), std::fs::read(&b).expect("b.pdf"), "both replicas serve one PDF");

    drop(workers);
    drop(replicas);
    let q = rabbitmq(&queue, 1).await;
    let _ = q.delete_queue().await;
}
