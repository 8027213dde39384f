//! The web page in a real browser: headless Chromium driven through WebDriver (chromedriver)
//! against the real data service (access control on, the web listener on port 0) and a worker
//! on the real RabbitMQ. Sign in, request the seed's 2019 briefing, watch it reach SUCCEEDED
//! without a reload, download it (its SHA-256 equals the report's), be refused as a viewer
//! when cancelling, switch to English. Each step leaves a screenshot under
//! `target/test-output/web/`.

mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coopbrief_data::AuthMode;
use coopbrief_domain::Role;
use coopbrief_proto::ReportServiceClient;
use coopbrief_proto::v1;
use coopbrief_runtime::ClientArgs;
use coopbrief_store::Store;
use coopbrief_tests::{amqp_settings, data_settings, free_port, rabbitmq};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use webdriver::{Element, Session};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a step may take on a busy test machine.
const STEP: Duration = Duration::from_secs(60);

/// chromedriver, killed when the test ends however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_chromedriver() -> (Driver, u16) {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).exists(),
            "{path} (Debian package {package}) is required for the web page's test and is missing: \
             apt-get install chromium chromium-driver (.ci/run does)"
        );
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{CHROMEDRIVER} (Debian package chromium-driver) does not start: {e}"));
    let driver = Driver(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "chromedriver never listened on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    (driver, port)
}

/// Headless Chromium with its own profile and download directory.
async fn browser(driver_port: u16, profile: &Path, downloads: &Path) -> Session {
    let capabilities = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                "--lang=vi",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
                "safebrowsing.enabled": false,
            },
        },
    });
    Session::start(&format!("http://127.0.0.1:{driver_port}"), capabilities)
        .await
        .unwrap_or_else(|e| panic!("{CHROMIUM} does not start under chromedriver: {e}"))
}

/// Saves a screenshot of the page as `NN-step.png` and prints where.
async fn shot(browser: &Session, dir: &Path, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("the screenshot is written");
    println!("screenshot: {}", path.display());
}

/// The text of the first element matching `css` (found again if the page redrew it meanwhile).
async fn text_of(browser: &Session, css: &str) -> String {
    let mut last = None;
    for _ in 0..5 {
        let el = wait_for(browser, css).await;
        match browser.text(&el).await {
            Ok(text) => return text,
            Err(e) => last = Some(e),
        }
    }
    panic!("the text of {css}: {last:?}")
}

async fn wait_for(browser: &Session, css: &str) -> Element {
    match browser.wait_for(css, STEP).await {
        Ok(el) => el,
        Err(e) => {
            // What the page showed instead, to see why.
            let said = match browser.find("#error").await {
                Ok(el) => browser.text(&el).await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if let Ok(png) = browser.screenshot().await {
                let path = output_dir().join("failed.png");
                let _ = std::fs::write(&path, png);
                println!("screenshot of the failure: {}", path.display());
            }
            panic!("the page never showed {e}; its error box says {said:?}")
        }
    }
}

async fn click(browser: &Session, css: &str) {
    let el = wait_for(browser, css).await;
    browser.click(&el).await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

/// The report's state as the page shows it (`SUCCEEDED`), or "" while it shows none.
async fn browser_state(browser: &Session) -> String {
    match browser.find("#report-state .state").await {
        Ok(el) => browser.attribute(&el, "data-state").await.ok().flatten().unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits until the report's state on the page is `state` (the page is never reloaded here).
async fn wait_for_state(browser: &Session, state: &str, limit: Duration) {
    let started = Instant::now();
    loop {
        let shown = browser_state(browser).await;
        if shown == state {
            return;
        }
        assert!(started.elapsed() < limit, "the page still shows {shown:?}, not {state}, after {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sign_in(browser: &Session, token: &str) {
    let input = wait_for(browser, "#token").await;
    browser.send_keys(&input, token).await.expect("the token is typed");
    click(browser, "#signin-submit").await;
    wait_for(browser, "#sign-out:not([hidden])").await;
}

/// The data service's view of a report, over gRPC.
async fn report(endpoint: &str, token: &str, id: &str) -> v1::Report {
    let args = ClientArgs { token: Some(token.into()), ca_file: None };
    let channel = coopbrief_runtime::client::connect(endpoint, &args).await.expect("connects");
    ReportServiceClient::new(channel)
        .get_report(v1::GetReportRequest { id: id.into() })
        .await
        .expect("GetReport")
        .into_inner()
}

fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-output/web");
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_web_page_requests_follows_downloads_and_is_refused_as_a_viewer() {
    let (_driver, driver_port) = start_chromedriver();
    let shots = output_dir();

    // The data service with tokens on, its web listener on a free port.
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = format!("coopbrief.test.web.{}", uuid::Uuid::now_v7());
    drop(rabbitmq(&queue, 1).await);
    let mut settings = data_settings(dir.path(), &queue, "127.0.0.1:0".parse().expect("address"));
    settings.auth = AuthMode::Tokens;
    settings.web_listen = Some("127.0.0.1:0".parse().expect("address"));
    let server = coopbrief_data::Server::build(&settings).await.expect("data service starts");
    let endpoint = format!("http://{}", server.local_addr().expect("bound"));
    let web = server.web_addr().expect("a web listener").expect("bound");
    let page = format!("http://{web}/");
    let (stop_server, mut server_stopped) = watch::channel(false);
    let server = tokio::spawn(async move {
        let stopped = async move {
            let _ = server_stopped.wait_for(|s| *s).await;
        };
        server.run_until_stopped(stopped).await.expect("runs")
    });

    let store = Store::connect(&settings.database_url).await.expect("the database opens");
    let token = |name: &'static str, role| {
        let store = store.clone();
        async move { coopbrief_data::auth::create_token(&store, name, role, "test").await.expect("token").1 }
    };
    let (editor, viewer, worker_token) =
        (token("editor", Role::Editor).await, token("viewer", Role::Viewer).await, token("worker", Role::Worker).await);

    // A worker with its worker token.
    let (stop_worker, mut worker_stopped) = watch::channel(false);
    let worker = {
        let args = ClientArgs { token: Some(worker_token), ca_file: None };
        let channel = coopbrief_runtime::client::connect_lazy(&endpoint, &args).expect("a channel");
        let renderer = Arc::new(coopbrief_render::Renderer::new().expect("renderer loads"));
        // A pause before each render, so that the page shows the report unfinished first.
        let config = coopbrief_worker::WorkerConfig { render_delay: Duration::from_secs(3), ..Default::default() };
        let w = coopbrief_worker::Worker::with_channel(channel, renderer, config);
        let q = Arc::new(coopbrief_queue::AmqpQueue::lazy(amqp_settings(&queue, 2)));
        tokio::spawn(async move {
            let stopped = async move {
                let _ = worker_stopped.wait_for(|s| *s).await;
            };
            coopbrief_worker::run(q, w, 2, stopped).await.expect("worker runs")
        })
    };

    let profile = tempfile::tempdir().expect("profile dir");
    let downloads = tempfile::tempdir().expect("download dir");
    let b = browser(driver_port, profile.path(), downloads.path()).await;

    // 1. Sign in (Vietnamese first).
    b.goto(&page).await.expect("the page opens");
    assert_eq!(text_of(&b, "#signin h1").await, "Đăng nhập");
    sign_in(&b, &editor).await;
    wait_for(&b, "#reports-empty, #reports").await;
    shot(&b, &shots, "01-signed-in").await;

    // 2. Request the seed's 2019 briefing of hanoi-hanam.
    b.goto(&format!("{page}#/new?programme=hanoi-hanam")).await.expect("the request page");
    let period = wait_for(&b, "#new-period").await;
    b.send_keys(&period, "2019").await.expect("period typed");
    let programme = b.property(&wait_for(&b, "#new-programme").await, "value").await.expect("programme");
    assert_eq!(programme, serde_json::json!("hanoi-hanam"));
    click(&b, "#new-submit").await;
    wait_for(&b, "#report-state .state").await;
    let url = b.current_url().await.expect("url");
    let id = url.split_once("#/reports/").map(|(_, id)| id.to_owned()).expect("the report's page");
    let first = browser_state(&b).await;
    assert!(first == "QUEUED" || first == "RUNNING", "the new report shows {first:?} at first");
    shot(&b, &shots, "02-requested").await;

    // 3. It reaches SUCCEEDED on the page, live: no reload (a mark left in the page survives).
    b.execute("window.coopbriefMark = 'same page'; return null;").await.expect("mark");
    wait_for_state(&b, "SUCCEEDED", Duration::from_secs(180)).await;
    let mark = b.execute("return window.coopbriefMark ?? null;").await.expect("mark read");
    assert_eq!(mark, serde_json::json!("same page"), "the page was reloaded");
    assert_eq!(text_of(&b, "#report-state").await, "Hoàn thành");
    wait_for(&b, "#download").await;
    shot(&b, &shots, "03-succeeded").await;

    // 4. Download it: the saved file's SHA-256 is the report's.
    click(&b, "#download").await;
    let saved = downloads.path().join("hanoi-hanam-2019.pdf");
    let started = Instant::now();
    while !saved.exists() {
        assert!(started.elapsed() < STEP, "no {} after {STEP:?}", saved.display());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let file = std::fs::read(&saved).expect("the downloaded PDF");
    let served = report(&endpoint, &editor, &id).await;
    assert_eq!(served.state, v1::ReportState::Succeeded as i32);
    assert_eq!(hex::encode(Sha256::digest(&file)), served.sha256, "the downloaded file is the report's PDF");
    assert!(file.starts_with(b"%PDF-"));
    wait_for(&b, "#notice:not(:empty)").await;
    shot(&b, &shots, "04-downloaded").await;

    // 5. A viewer presses Cancel on a queued report (the worker is stopped, so it stays
    //    queued): the server refuses, and the page says why.
    let _ = stop_worker.send(true);
    let _ = worker.await;
    let queued = {
        let args = ClientArgs { token: Some(editor.clone()), ca_file: None };
        let channel = coopbrief_runtime::client::connect(&endpoint, &args).await.expect("connects");
        ReportServiceClient::new(channel)
            .create_report(v1::CreateReportRequest {
                programme: "hanoi-hanam".into(),
                period: "2019-Q3".into(),
                ..Default::default()
            })
            .await
            .expect("CreateReport")
            .into_inner()
    };
    click(&b, "#sign-out").await;
    sign_in(&b, &viewer).await;
    b.goto(&format!("{page}#/reports/{}", queued.id)).await.expect("the queued report's page");
    click(&b, "#cancel").await;
    wait_for(&b, "#error[data-code='PERMISSION_DENIED']").await;
    let said = text_of(&b, "#error").await;
    assert!(said.contains("PERMISSION_DENIED") && said.contains("CancelReport needs the editor role"), "{said}");
    assert!(said.contains("Không có quyền"), "{said}");
    assert_eq!(report(&endpoint, &editor, &queued.id).await.state, v1::ReportState::Queued as i32);
    shot(&b, &shots, "05-viewer-refused").await;

    // 6. English, once.
    click(&b, "#lang-switch").await;
    wait_for(&b, "#report-state .state").await;
    assert_eq!(text_of(&b, "#report-state").await, "Queued");
    assert_eq!(text_of(&b, "#lang-switch").await, "Tiếng Việt");
    click(&b, "#cancel").await;
    wait_for(&b, "#error[data-code='PERMISSION_DENIED']").await;
    assert!(text_of(&b, "#error").await.contains("You may not do this"));
    shot(&b, &shots, "06-english").await;

    b.close().await.expect("the browser closes");
    let _ = stop_server.send(true);
    let _ = server.await;
    let _ = rabbitmq(&queue, 1).await.delete_queue().await;
}
