//! The compose topology as processes on this machine (no Docker engine runs here): two data
//! services on one fresh PostgreSQL database, two workers, the real RabbitMQ, the environment
//! variables `deploy/compose.yaml` sets, access control on — and a report made through it with
//! a token. The environments and secret files are read out of `deploy/compose.yaml` and
//! `deploy/env.example` themselves, so that these tests and the files cannot drift apart.

use std::collections::BTreeMap;
use std::path::Path;
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

/// `deploy/compose.yaml` (merge keys applied) and the variables `deploy/env.example` sets.
struct Compose {
    doc: serde_yaml_ng::Value,
    example: BTreeMap<String, String>,
}

impl Compose {
    fn load() -> Compose {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        let text = std::fs::read_to_string(deploy.join("compose.yaml")).expect("deploy/compose.yaml");
        let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("compose.yaml is YAML");
        doc.apply_merge().expect("compose.yaml's merge keys");
        let example = std::fs::read_to_string(deploy.join("env.example")).expect("deploy/env.example");
        let example = example
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Compose { doc, example }
    }

    fn service(&self, name: &str) -> &serde_yaml_ng::Value {
        let service = &self.doc["services"][name];
        assert!(service.is_mapping(), "compose.yaml has no service {name}");
        service
    }

    /// A service's environment with `${…}` filled in from `dotenv`, as compose does.
    fn env(&self, service: &str, dotenv: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let env = self.service(service)["environment"].as_mapping().expect("an environment mapping");
        env.iter()
            .map(|(k, v)| {
                let value = match v {
                    serde_yaml_ng::Value::String(s) => s.clone(),
                    other => serde_yaml_ng::to_string(other).expect("a scalar").trim().to_owned(),
                };
                (k.as_str().expect("a variable name").to_owned(), interpolate(&value, dotenv))
            })
            .collect()
    }

    /// The Docker secrets a service mounts.
    fn secrets_of(&self, service: &str) -> Vec<String> {
        let list = self.service(service)["secrets"].as_sequence().expect("a list of secrets");
        list.iter().map(|s| s.as_str().expect("a secret's name").to_owned()).collect()
    }

    /// Each secret with the variable that names its file (`file: ${VARIABLE:-default}`).
    fn secret_files(&self) -> Vec<(String, String)> {
        let secrets = self.doc["secrets"].as_mapping().expect("top-level secrets");
        secrets
            .iter()
            .map(|(name, spec)| {
                let file = spec["file"].as_str().expect("a secret from a file");
                let variable = file
                    .strip_prefix("${")
                    .and_then(|f| f.split(":-").next())
                    .unwrap_or_else(|| panic!("the file of a secret is named by a variable: {file}"));
                (name.as_str().expect("a name").to_owned(), variable.to_owned())
            })
            .collect()
    }
}

/// `${NAME}`, `${NAME:-default}` and `${NAME:?message}` replaced as compose does, `$$` kept as `$`.
fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(inner) = rest.strip_prefix("${") {
            let end = inner.find('}').expect("a closing brace");
            let expr = &inner[..end];
            let (name, default) = match (expr.split_once(":-"), expr.split_once(":?")) {
                (Some((name, default)), _) => (name, Some(default)),
                (None, Some((name, _))) => (name, None),
                (None, None) => (expr, None),
            };
            let value = vars.get(name).filter(|v| !v.is_empty()).map(String::as_str).or(default);
            out.push_str(value.unwrap_or_else(|| panic!("{name} is needed by compose.yaml and not set")));
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

/// A new token, as an operator makes one (`cb_` and 64 hex digits).
fn new_token() -> String {
    use sha2::Digest;
    format!("cb_{}", hex::encode(sha2::Sha256::digest(uuid::Uuid::now_v7().as_bytes())))
}

#[test]
fn the_compose_file_mounts_every_secret_it_names_and_sets_what_production_needs() {
    let compose = Compose::load();
    let declared: Vec<String> = compose.secret_files().into_iter().map(|(name, _)| name).collect();
    for (name, variable) in compose.secret_files() {
        assert!(compose.example.contains_key(&variable), "env.example names the file of secret {name} ({variable})");
    }
    for service in ["postgres", "rabbitmq", "coopbrief-data", "coopbrief-worker"] {
        let mounted = compose.secrets_of(service);
        let env = compose.env(service, &compose.example);
        let text = serde_yaml_ng::to_string(compose.service(service)).expect("yaml");
        for secret in text.split("/run/secrets/").skip(1) {
            let name: String = secret.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            assert!(mounted.contains(&name), "{service} reads /run/secrets/{name} and mounts it");
            assert!(declared.contains(&name), "secret {name} is declared");
        }
        // Secrets only as files: no password or token as a value of this file.
        for (k, v) in &env {
            let secret = ["PASSWORD", "TOKEN", "SECRET"].iter().any(|s| k.contains(s));
            assert!(!secret || k.ends_with("_FILE"), "{service}: {k}={v} must be a *_FILE");
        }
    }
    let data = compose.env("coopbrief-data", &compose.example);
    assert_eq!(data["COOPBRIEF_SEED"], "none", "no demo data in production");
    assert_eq!(data["COOPBRIEF_BOOTSTRAP_ADMIN_TOKEN_FILE"], "/run/secrets/admin_token");
    assert_eq!(data["COOPBRIEF_BOOTSTRAP_WORKER_TOKEN_FILE"], "/run/secrets/worker_token");
    assert_eq!(compose.env("coopbrief-worker", &compose.example)["COOPBRIEF_TOKEN_FILE"], "/run/secrets/worker_token");

    // Docker's grace before SIGKILL is above the worker's own for jobs in flight (30 s).
    let grace = compose.service("coopbrief-worker")["stop_grace_period"].as_str().expect("stop_grace_period");
    let grace: u64 = grace.strip_suffix('s').and_then(|s| s.parse().ok()).expect("seconds");
    assert!(grace > 30, "stop_grace_period {grace}s");
    for service in ["coopbrief-data", "coopbrief-worker"] {
        let limits = &compose.service(service)["deploy"]["resources"]["limits"];
        assert!(limits["cpus"].is_string() && limits["memory"].is_string(), "{service} has CPU and memory limits");
    }

    // RabbitMQ 4, with a consumer timeout well above the render deadline (120 s).
    let image = compose.service("rabbitmq")["image"].as_str().expect("an image");
    assert!(image.starts_with("rabbitmq:4."), "{image}");
    let conf = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/rabbitmq.conf"))
        .expect("deploy/rabbitmq.conf");
    let timeout_ms: u64 = conf
        .lines()
        .find_map(|l| l.strip_prefix("consumer_timeout = "))
        .and_then(|v| v.trim().parse().ok())
        .expect("consumer_timeout in rabbitmq.conf");
    assert!(timeout_ms >= 3 * 120_000, "consumer_timeout {timeout_ms} ms");
}

/// Runs a command and asserts that it succeeded; returns its standard output.
fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the data service at `listen` answers SERVING to `coopbrief-data healthcheck`.
async fn wait_healthy(listen: &str) {
    let started = Instant::now();
    loop {
        let mut check = Command::new(workspace_binary("coopbrief-data"));
        let endpoint = format!("http://{listen}");
        check.args(["healthcheck", "--endpoint", &endpoint]).stdout(Stdio::null()).stderr(Stdio::null());
        if check.status().map(|s| s.success()).unwrap_or(false) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the data service at {listen} never became healthy");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_settings_and_secret_files_make_a_working_system_that_a_restart_leaves_alone() {
    let compose = Compose::load();
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = format!("coopbrief.test.deploy.{}", uuid::Uuid::now_v7());
    drop(rabbitmq(&queue, 1).await);

    // The operator's part: the secret files env.example names, and the rest of deploy/.env.
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).expect("secrets dir");
    let (admin, worker) = (new_token(), new_token());
    // This machine's PostgreSQL trusts local connections (the password goes unused, but into
    // the URL all the same); its RabbitMQ has the user guest/guest.
    for (name, value) in [
        ("postgres_password", "p@ss:w/rd"),
        ("rabbitmq_password", "guest"),
        ("admin_token", admin.as_str()),
        ("worker_token", worker.as_str()),
        ("webhook_key", "5eed0f1e5eed0f1e5eed0f1e5eed0f1e5eed0f1e5eed0f1e5eed0f1e5eed0f1e"),
    ] {
        std::fs::write(secrets.join(name), format!("{value}\n")).expect("a secret file");
    }
    let (user, rest) = db.url.trim_start_matches("postgres://").split_once('@').expect("user@host");
    let (pg_host, pg_db) = rest.split_once('/').expect("host/db");
    let mut dotenv = compose.example.clone();
    for (name, variable) in compose.secret_files() {
        dotenv.insert(variable, secrets.join(&name).display().to_string());
    }
    for (k, v) in [
        ("POSTGRES_USER", user.split(':').next().unwrap_or(user)),
        ("POSTGRES_DB", pg_db),
        ("RABBITMQ_USER", "guest"),
        ("COOPBRIEF_ARTIFACTS", &dir.path().join("pdf").display().to_string()),
    ] {
        assert!(compose.example.contains_key(k), "env.example sets {k}");
        dotenv.insert(k.to_owned(), v.to_owned());
    }

    // A service's environment as compose gives it, with this machine's addresses for the
    // service names, the secret files where /run/secrets has them, and the test's own queue.
    let data_ports = [free_port(), free_port()];
    let environment = |service: &str, port: u16| {
        let mut env = compose.env(service, &dotenv);
        for value in env.values_mut() {
            if let Some(name) = value.strip_prefix("/run/secrets/") {
                assert!(compose.secrets_of(service).iter().any(|s| s == name), "{service} mounts {name}");
                *value = secrets.join(name).display().to_string();
            }
            *value = value
                .replace("@postgres:5432/", &format!("@{pg_host}/"))
                .replace("@rabbitmq:5672/", "@127.0.0.1:5672/")
                .replace("//coopbrief-data:50051", &format!("//127.0.0.1:{port}"));
        }
        if let Some(listen) = env.get_mut("COOPBRIEF_LISTEN") {
            *listen = format!("127.0.0.1:{port}");
        }
        // Each container has its own metrics and web ports; processes on one host need one each.
        for listener in ["COOPBRIEF_METRICS_LISTEN", "COOPBRIEF_WEB_LISTEN"] {
            if let Some(addr) = env.get_mut(listener) {
                *addr = format!("127.0.0.1:{}", free_port());
            }
        }
        env.insert("COOPBRIEF_QUEUE".into(), queue.clone());
        env.insert(
            "COOPBRIEF_RETRY_DELAYS".into(),
            coopbrief_tests::TEST_RETRY_DELAYS.map(|d| d.to_string()).join(","),
        );
        env.insert("RUST_LOG".into(), "info".into());
        env
    };
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let start = |binary: &str, env: &BTreeMap<String, String>, log: &str| {
        let mut cmd = Command::new(workspace_binary(binary));
        // Only what compose sets: nothing of this process's environment.
        cmd.env_clear().envs(env).stdin(Stdio::null()).stdout(Stdio::null());
        let log = std::fs::File::create(logs.join(log)).expect("a log file");
        cmd.stderr(log);
        Process(cmd.spawn().unwrap_or_else(|e| panic!("{binary} starts: {e}")))
    };
    let cli = |port: u16| {
        let mut cmd = Command::new(workspace_binary("coopbrief"));
        cmd.env_clear()
            .env("COOPBRIEF_ENDPOINT", format!("http://127.0.0.1:{port}"))
            .env("COOPBRIEF_TOKEN_FILE", secrets.join("admin_token"))
            .stdin(Stdio::null());
        cmd
    };
    let token_names = |port: u16| -> Vec<String> {
        let listed = ok(cli(port).args(["token", "list", "--revoked", "--all"]));
        listed.lines().skip(1).filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect()
    };

    // Two replicas starting together on one database, both registering the same two tokens.
    let mut replicas: Vec<Process> = data_ports
        .iter()
        .enumerate()
        .map(|(i, &port)| start("coopbrief-data", &environment("coopbrief-data", port), &format!("data-{i}.log")))
        .collect();
    for port in data_ports {
        wait_healthy(&format!("127.0.0.1:{port}")).await;
    }
    let workers: Vec<Process> = data_ports
        .iter()
        .enumerate()
        .map(|(i, &port)| start("coopbrief-worker", &environment("coopbrief-worker", port), &format!("worker-{i}.log")))
        .collect();
    assert_eq!(token_names(data_ports[0]), ["admin", "workers"], "each token once");

    // No demo data: the programme is imported, as an operator loads theirs.
    let listed = ok(cli(data_ports[1]).args(["programme", "list"]));
    assert!(!listed.contains("hanoi-hanam"), "COOPBRIEF_SEED=none loads nothing: {listed}");
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/hanoi-hanam.yaml");
    ok(cli(data_ports[1]).args(["data", "import"]).arg(&seed));
    let a = dir.path().join("a.pdf");
    ok(cli(data_ports[0])
        .args(["report", "create", "--programme", "hanoi-hanam", "--period", "2019", "--out"])
        .arg(&a));
    assert_pdf_contains(&a, &["BÁO CÁO", "Hà Nội", "Hà Nam", "10.900"]);

    // A restart of both replicas with the same files: no duplicate, nothing revoked, and the
    // workers (which kept running) still render with their token.
    for replica in &mut replicas {
        replica.kill();
    }
    let replicas: Vec<Process> = data_ports
        .iter()
        .enumerate()
        .map(|(i, &port)| start("coopbrief-data", &environment("coopbrief-data", port), &format!("data-{i}.again.log")))
        .collect();
    for port in data_ports {
        wait_healthy(&format!("127.0.0.1:{port}")).await;
    }
    assert_eq!(token_names(data_ports[1]), ["admin", "workers"], "still each token once, none revoked");
    let b = dir.path().join("b.pdf");
    ok(cli(data_ports[1])
        .args(["report", "create", "--programme", "hanoi-hanam", "--period", "2019-Q3", "--out"])
        .arg(&b));
    assert_pdf_contains(&b, &["Hà Nội", "Hà Nam"]);

    drop(workers);
    drop(replicas);
    // What the replicas said: each token registered once in all, found at the restart, and no
    // token in any log.
    let read = |name: String| std::fs::read_to_string(logs.join(name)).expect("a log");
    let first: String = (0..2).map(|i| read(format!("data-{i}.log"))).collect();
    let again: String = (0..2).map(|i| read(format!("data-{i}.again.log"))).collect();
    assert_eq!(first.matches("token given at start registered\"").count(), 2, "{first}");
    assert_eq!(again.matches("token given at start is registered already").count(), 4, "{again}");
    let all: String = std::fs::read_dir(&logs)
        .expect("logs")
        .map(|e| std::fs::read_to_string(e.expect("a log").path()).expect("a log"))
        .collect();
    for (secret, what) in [(&admin, "admin token"), (&worker, "worker token"), (&"p@ss:w/rd".to_owned(), "password")] {
        assert!(!all.contains(secret.as_str()), "the {what} is in a log");
    }
    let q = rabbitmq(&queue, 1).await;
    let _ = q.delete_queue().await;
}

#[test]
fn a_secret_and_its_file_both_set_stop_the_start_naming_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{}\n", new_token())).expect("a token file");
    let out = run(Command::new(workspace_binary("coopbrief-worker"))
        .env_clear()
        .env("COOPBRIEF_TOKEN", new_token())
        .env("COOPBRIEF_TOKEN_FILE", &file));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("COOPBRIEF_TOKEN and COOPBRIEF_TOKEN_FILE are both set"), "{err}");
}
