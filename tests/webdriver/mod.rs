//! A small W3C WebDriver client (JSON over HTTP to chromedriver): the few commands the web
//! page's test needs. Elements are found by CSS selector; waiting is polling.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The key under which WebDriver names an element (W3C WebDriver, "Elements").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session.
pub struct Session {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`
    base: String,
}

/// An element of the page, as the driver knows it.
pub struct Element(String);

/// What went wrong: the driver's error code and message, or the transport's.
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, Error>;

async fn send(http: &reqwest::Client, method: reqwest::Method, url: &str, body: Option<Value>) -> Result<Value> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await.map_err(|e| Error(format!("{url}: {e}")))?;
    let bytes = response.bytes().await.map_err(|e| Error(format!("{url}: {e}")))?;
    let mut answer: Value = serde_json::from_slice(&bytes).map_err(|e| Error(format!("{url}: not JSON: {e}")))?;
    let value = answer["value"].take();
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        return Err(Error(format!("{error}: {}", value["message"].as_str().unwrap_or(""))));
    }
    Ok(value)
}

impl Session {
    /// Starts a browser through the driver at `driver` (`http://127.0.0.1:PORT`).
    pub async fn start(driver: &str, always_match: Value) -> Result<Session> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| Error(format!("an HTTP client: {e}")))?;
        let answer = send(
            &http,
            reqwest::Method::POST,
            &format!("{driver}/session"),
            Some(json!({ "capabilities": { "alwaysMatch": always_match } })),
        )
        .await?;
        let id = answer["sessionId"].as_str().ok_or_else(|| Error(format!("no session id in {answer}")))?;
        Ok(Session { http, base: format!("{driver}/session/{id}") })
    }

    async fn get(&self, path: &str) -> Result<Value> {
        send(&self.http, reqwest::Method::GET, &format!("{}{path}", self.base), None).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        send(&self.http, reqwest::Method::POST, &format!("{}{path}", self.base), Some(body)).await
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).await.map(drop)
    }

    pub async fn current_url(&self) -> Result<String> {
        Ok(self.get("/url").await?.as_str().unwrap_or_default().to_owned())
    }

    /// The first element matching `css`, now.
    pub async fn find(&self, css: &str) -> Result<Element> {
        let found = self.post("/element", json!({ "using": "css selector", "value": css })).await?;
        let id = found[ELEMENT_KEY].as_str().ok_or_else(|| Error(format!("no element id in {found}")))?;
        Ok(Element(id.to_owned()))
    }

    /// The first element matching `css`, once there is one (within `limit`).
    pub async fn wait_for(&self, css: &str, limit: Duration) -> Result<Element> {
        let started = Instant::now();
        loop {
            match self.find(css).await {
                Ok(el) => return Ok(el),
                Err(e) if started.elapsed() > limit => return Err(Error(format!("{css} within {limit:?}: {e}"))),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub async fn click(&self, el: &Element) -> Result<()> {
        self.post(&format!("/element/{}/click", el.0), json!({})).await.map(drop)
    }

    pub async fn send_keys(&self, el: &Element, text: &str) -> Result<()> {
        self.post(&format!("/element/{}/value", el.0), json!({ "text": text })).await.map(drop)
    }

    /// The element's rendered text.
    pub async fn text(&self, el: &Element) -> Result<String> {
        Ok(self.get(&format!("/element/{}/text", el.0)).await?.as_str().unwrap_or_default().to_owned())
    }

    pub async fn attribute(&self, el: &Element, name: &str) -> Result<Option<String>> {
        Ok(self.get(&format!("/element/{}/attribute/{name}", el.0)).await?.as_str().map(str::to_owned))
    }

    pub async fn property(&self, el: &Element, name: &str) -> Result<Value> {
        self.get(&format!("/element/{}/property/{name}", el.0)).await
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    pub async fn execute(&self, script: &str) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": [] })).await
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Result<Vec<u8>> {
        let encoded = self.get("/screenshot").await?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .map_err(|e| Error(format!("the screenshot is not base64: {e}")))
    }

    /// Ends the session (the browser quits).
    pub async fn close(self) -> Result<()> {
        send(&self.http, reqwest::Method::DELETE, &self.base, None).await.map(drop)
    }
}
