//! Store tests on both engines — a real SQLite file and a fresh database on the real PostgreSQL —
//! seeding, briefing data, the report life cycle and the outbox.

// The test bodies are plain `async fn(&TestDb)` run by `on_both_backends!`, so clippy does not
// see them as tests.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use coopbrief_domain::dataset::Dataset;
use coopbrief_domain::{Code, DocumentNumber, Issued, Lang, PdfInfo, ReportState, Role, Symbol};
use coopbrief_store::testing::TestDb;
use coopbrief_store::{ArtifactStore, Bootstrapped, Error, NewReport, PdfCopy};

fn seed() -> Dataset {
    Dataset::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")).expect("the seed dataset loads")
}

async fn import_is_idempotent_and_round_trips(db: &TestDb) {
    let store = db.store().await;
    assert!(store.is_empty().await.unwrap());
    let ds = seed();
    let first = store.import_dataset(&ds).await.unwrap();
    assert!(first.created > 20 && first.changed == 0 && first.unchanged == 0, "{first}");
    let again = store.import_dataset(&ds).await.unwrap();
    assert_eq!((again.created, again.changed), (0, 0), "{again}");
    assert_eq!(again.unchanged, first.created);
    assert_eq!(store.programme("hanoi-hanam").await.unwrap(), ds.programmes[0]);
    assert_eq!(store.partners().await.unwrap(), ds.partners);
    assert_eq!(store.sectors().await.unwrap(), ds.sectors);
}

async fn a_broken_import_changes_nothing(db: &TestDb) {
    let store = db.store().await;
    let mut ds = seed();
    ds.programmes[0].projects[0].sector = Some("nowhere".parse().unwrap());
    let err = store.import_dataset(&ds).await.unwrap_err();
    assert!(err.to_string().contains("projects[0].sector"), "{err}");
    assert!(store.is_empty().await.unwrap());
    assert!(store.partners().await.unwrap().is_empty());
}

async fn briefing_data_for_a_period(db: &TestDb) {
    let store = db.store().await;
    store.import_dataset(&seed()).await.unwrap();
    let b = store.briefing_data("hanoi-hanam", "2019".parse().unwrap()).await.unwrap();
    assert_eq!(b.programme.contributions.len(), 1);
    assert_eq!(b.partners.len(), 3);
    let err = store.briefing_data("hue-danang", "2019".parse().unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { what: "programme", .. }), "{err}");
}

async fn report_life_cycle(db: &TestDb) {
    let store = db.store().await;
    store.import_dataset(&seed()).await.unwrap();
    let (r, created) =
        store.create_report(&NewReport::new("hanoi-hanam", "2019-Q3".parse().unwrap(), Lang::En), None).await.unwrap();
    assert!(created);
    assert_eq!((r.state, r.attempt, r.lang), (ReportState::Queued, 0, Lang::En));
    assert_eq!(store.unfinished_reports().await.unwrap(), vec![r.id]);

    let (running, go) = store.start_report(r.id).await.unwrap();
    assert!(go);
    assert_eq!((running.state, running.attempt), (ReportState::Running, 1));

    let pdf = PdfInfo {
        pages: 3,
        bytes: 1234,
        sha256: "ab".repeat(32),
        template_version: "t1".into(),
        data_hash: "cd".repeat(32),
    };
    let (done, finished) = store.complete_report(r.id, &pdf).await.unwrap();
    assert!(finished, "this call finished it");
    assert_eq!(done.state, ReportState::Succeeded);
    assert_eq!(done.pdf.as_ref(), Some(&pdf));
    // A duplicate job: not started again, and finishing it afterwards changes nothing.
    let (_, go) = store.start_report(r.id).await.unwrap();
    assert!(!go);
    assert!(!store.complete_report(r.id, &pdf).await.unwrap().1, "an upload of a finished report");
    let (late, failed) = store.fail_report(r.id, "late duplicate").await.unwrap();
    assert_eq!((late.state, failed), (ReportState::Succeeded, false));
    assert!(store.unfinished_reports().await.unwrap().is_empty());

    let err =
        store.create_report(&NewReport::new("nowhere", "2019".parse().unwrap(), Lang::Vi), None).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { what: "programme", .. }));
    assert_eq!(store.list_reports(Some("hanoi-hanam"), None, 0).await.unwrap().len(), 1);
    assert_eq!(store.list_reports(None, Some(ReportState::Failed), 10).await.unwrap().len(), 0);
    assert_eq!(store.uploads(r.id).await.unwrap(), 2, "the duplicate upload is counted");
}

async fn read_all(artifacts: &ArtifactStore, id: coopbrief_domain::ReportId) -> Vec<u8> {
    let mut pieces = artifacts.open(id, PdfCopy::Draft).await.unwrap();
    let mut buf = Vec::new();
    while let Some(piece) = futures::StreamExt::next(&mut pieces).await {
        buf.extend(piece.unwrap());
    }
    buf
}

#[tokio::test]
async fn an_in_memory_database_opens() {
    let store = coopbrief_store::Store::connect("sqlite::memory:").await.unwrap();
    assert!(store.is_empty().await.unwrap());
}

#[tokio::test]
async fn artifacts_are_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = ArtifactStore::local(dir.path().join("pdf")).unwrap();
    let id = coopbrief_domain::ReportId::new();
    assert!(matches!(artifacts.open(id, PdfCopy::Draft).await.err(), Some(Error::NotFound { .. })));
    artifacts.put(id, PdfCopy::Draft, b"%PDF-1.7 test".to_vec()).await.unwrap();
    artifacts.put(id, PdfCopy::Draft, b"%PDF-1.7 again".to_vec()).await.unwrap();
    assert_eq!(read_all(&artifacts, id).await, b"%PDF-1.7 again");
    let names: Vec<_> = std::fs::read_dir(dir.path().join("pdf")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [std::ffi::OsString::from(format!("{id}.pdf"))], "no staging file left");
}

#[tokio::test]
async fn artifact_stores_are_chosen_by_url() {
    let dir = tempfile::tempdir().unwrap();
    let by_url = ArtifactStore::open_location(&format!("file://{}/pdf", dir.path().display())).unwrap();
    let id = coopbrief_domain::ReportId::new();
    by_url.put(id, PdfCopy::Draft, b"%PDF".to_vec()).await.unwrap();
    assert!(dir.path().join(format!("pdf/{id}.pdf")).is_file());
    let memory = ArtifactStore::open_location("memory://").unwrap();
    memory.put(id, PdfCopy::Draft, vec![7u8; 300_000]).await.unwrap();
    assert_eq!(read_all(&memory, id).await.len(), 300_000);
    // An S3 store is configured from the URL and AWS_* settings without touching the network.
    let s3 = ArtifactStore::open_location("s3://coopbrief-pdfs/briefings").unwrap();
    assert_eq!(s3.location(), "s3://coopbrief-pdfs/briefings");
    let err = ArtifactStore::open_location("ftp://example.invalid/pdf").unwrap_err();
    assert!(err.to_string().contains("unknown scheme"), "{err}");
}

async fn a_report_and_its_job_are_written_together_and_requests_are_idempotent(db: &TestDb) {
    let store = db.store().await;
    store.import_dataset(&seed()).await.unwrap();
    let period = "2019".parse().unwrap();
    let (a, created) =
        store.create_report(&NewReport::new("hanoi-hanam", period, Lang::Vi), Some("req-1")).await.unwrap();
    assert!(created);
    let (b, created) =
        store.create_report(&NewReport::new("hanoi-hanam", period, Lang::Vi), Some("req-1")).await.unwrap();
    assert!(!created);
    assert_eq!(a.id, b.id);
    // Concurrent retries of one request: still one report.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store.create_report(&NewReport::new("hanoi-hanam", period, Lang::Vi), Some("req-2")).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap().0.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");

    let pending = store.pending_jobs(10).await.unwrap();
    assert_eq!(pending.iter().map(|j| j.report_id).collect::<Vec<_>>(), vec![a.id, ids[0]]);
    store.job_not_sent(pending[0].id, "broker down").await.unwrap();
    assert_eq!(store.pending_jobs(10).await.unwrap()[0].tries, 1);
    store.job_sent(pending[0].id).await.unwrap();
    assert_eq!(store.pending_jobs(10).await.unwrap().len(), 1);
}

async fn cancel_and_retry(db: &TestDb) {
    let store = db.store().await;
    store.import_dataset(&seed()).await.unwrap();
    let (r, _) =
        store.create_report(&NewReport::new("hanoi-hanam", "2019".parse().unwrap(), Lang::Vi), None).await.unwrap();
    for job in store.pending_jobs(10).await.unwrap() {
        store.job_sent(job.id).await.unwrap();
    }
    store.start_report(r.id).await.unwrap();
    let (cancelled, now) = store.cancel_report(r.id).await.unwrap();
    assert_eq!((cancelled.state, now), (ReportState::Cancelled, true));
    assert!(!store.cancel_report(r.id).await.unwrap().1, "cancelled before");
    // A worker finishing it afterwards changes nothing.
    let pdf =
        PdfInfo { pages: 1, bytes: 1, sha256: "00".repeat(32), template_version: "t".into(), data_hash: "h".into() };
    assert_eq!(store.complete_report(r.id, &pdf).await.unwrap(), (cancelled, false));
    let (_, go) = store.start_report(r.id).await.unwrap();
    assert!(!go, "a cancelled report is not started again");

    let again = store.retry_report(r.id, None).await.unwrap();
    assert_eq!(again.state, ReportState::Queued);
    assert_eq!(store.pending_jobs(10).await.unwrap().len(), 1, "a retry queues a new job");
    store.start_report(r.id).await.unwrap();
    store.complete_report(r.id, &pdf).await.unwrap();
    let err = store.cancel_report(r.id).await.unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err}");
    let err = store.retry_report(r.id, None).await.unwrap_err();
    assert!(err.to_string().contains("SUCCEEDED"), "{err}");
}

async fn briefing_data_is_dated_by_its_snapshot(db: &TestDb) {
    let store = db.store().await;
    let mut ds = seed();
    store.import_dataset(&ds).await.unwrap();
    let period = "2019".parse().unwrap();
    let day = |d: i8| jiff::civil::date(2026, 11, d);
    let first = store.briefing_data_on("hanoi-hanam", period, day(20)).await.unwrap();
    assert_eq!(first.as_of, Some(day(20)));
    // Same data a week later: the same date, so the same document.
    let again = store.briefing_data_on("hanoi-hanam", period, day(27)).await.unwrap();
    assert_eq!(again.as_of, Some(day(20)));
    assert_eq!(again.data_hash(), first.data_hash());
    // Changed data is a new snapshot with the day it was first seen.
    ds.programmes[0].projects[0].progress = Some(60);
    store.import_dataset(&ds).await.unwrap();
    let changed = store.briefing_data_on("hanoi-hanam", period, day(27)).await.unwrap();
    assert_eq!(changed.as_of, Some(day(27)));
    assert_ne!(changed.data_hash(), first.data_hash());
}

/// Two data-service replicas' relays claim the outbox at once: every job once, none twice.
async fn two_relays_claim_each_job_once(db: &TestDb) {
    let a = db.store().await;
    a.import_dataset(&seed()).await.unwrap();
    let b = db.store().await;
    let mut made = Vec::new();
    for i in 0..40 {
        let new = NewReport::new("hanoi-hanam", "2019".parse().unwrap(), Lang::Vi);
        made.push(a.create_report(&new, Some(&format!("claim-{i}"))).await.unwrap().0.id);
    }
    let relay = |store: coopbrief_store::Store| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let jobs = store.claim_jobs(3).await.unwrap();
                if jobs.is_empty() {
                    return got;
                }
                for job in jobs {
                    got.push(job.report_id);
                    store.job_sent(job.id).await.unwrap();
                }
            }
        })
    };
    let (x, y) = (relay(a.clone()), relay(b.clone()));
    let mut all = x.await.unwrap();
    all.extend(y.await.unwrap());
    all.sort();
    made.sort();
    assert_eq!(all, made, "each job published exactly once");
    // A claimed job is not handed out again until it is released.
    let new = NewReport::new("hanoi-hanam", "2018".parse().unwrap(), Lang::Vi);
    a.create_report(&new, None).await.unwrap();
    let claimed = a.claim_jobs(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(b.claim_jobs(10).await.unwrap().is_empty());
    b.release_jobs(&[claimed[0].id]).await.unwrap();
    assert_eq!(b.claim_jobs(10).await.unwrap().len(), 1);
}

/// Replicas updating one partner with the same etag at once: one wins, the rest are ABORTED.
async fn concurrent_updates_with_one_etag_make_one_change(db: &TestDb) {
    let a = db.store().await;
    a.import_dataset(&seed()).await.unwrap();
    let b = db.store().await;
    let current = a.get::<coopbrief_domain::dataset::Partner>("", "hanam").await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (mut partner, etag) = (current.value.clone(), current.etag.clone());
            partner.name = coopbrief_domain::Text::vi(format!("Hà Nam {i}"));
            tokio::spawn(async move { store.update("", "hanam", &partner, Some(&etag), None).await })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(Error::Aborted(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(won, 1);
}

/// Briefing data is cached per data version: a change made through another replica shows at once.
async fn briefing_data_sees_changes_made_by_another_replica(db: &TestDb) {
    let a = db.store().await;
    let mut ds = seed();
    a.import_dataset(&ds).await.unwrap();
    let b = db.store().await;
    let period = "2019".parse().unwrap();
    let first = a.briefing_data("hanoi-hanam", period).await.unwrap();
    assert_eq!(a.briefing_data("hanoi-hanam", period).await.unwrap(), first, "a hit is the same data");
    ds.programmes[0].projects[0].progress = Some(61);
    b.import_dataset(&ds).await.unwrap();
    let after = a.briefing_data("hanoi-hanam", period).await.unwrap();
    assert_ne!(after.data_hash(), first.data_hash(), "the change made on b is seen on a");
    assert_eq!(after, b.briefing_data("hanoi-hanam", period).await.unwrap());
}

/// A report created for this replica's relay comes with its job already claimed: no relay
/// (of this replica or another) claims it from the outbox until it is sent or released; a
/// repeated request writes no job; sending a batch marks each job once.
async fn a_job_created_claimed_is_handed_over_not_claimed(db: &TestDb) {
    let a = db.store().await;
    a.import_dataset(&seed()).await.unwrap();
    let b = db.store().await;
    let new = NewReport::new("hanoi-hanam", "2019".parse().unwrap(), Lang::Vi);
    let (report, job) = a.create_report_claimed(&new, Some("handoff-1")).await.unwrap();
    let job = job.expect("a new report comes with its claimed job");
    assert_eq!(job.report_id, report.id);
    assert_eq!(report, a.report(report.id).await.unwrap(), "the report returned is the one stored");
    assert!(a.create_report_claimed(&new, Some("handoff-1")).await.unwrap().1.is_none(), "a repeat writes no job");
    assert_eq!(a.pending_jobs(10).await.unwrap().len(), 1, "the job is in the outbox");
    assert!(b.claim_jobs(10).await.unwrap().is_empty(), "claimed at creation");
    a.release_jobs(&[job.id]).await.unwrap();
    let (_, other) = a.create_report_claimed(&new, None).await.unwrap();
    let claimed = b.claim_jobs(10).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![job.id], "released, then claimed by b");
    let other = other.unwrap();
    a.jobs_sent(&[job.id, other.id]).await.unwrap();
    assert!(a.pending_jobs(10).await.unwrap().is_empty(), "both sent in one statement");
}

/// The backlog the metrics read: unfinished reports by state, unpublished jobs and the oldest's
/// time; finished reports and published jobs leave it.
async fn the_backlog_counts_what_waits(db: &TestDb) {
    let store = db.store().await;
    store.import_dataset(&seed()).await.unwrap();
    assert_eq!(store.backlog().await.unwrap(), coopbrief_store::Backlog::default());
    let before = jiff::Timestamp::now();
    let new = NewReport::new("hanoi-hanam", "2019".parse().unwrap(), Lang::Vi);
    let (a, _) = store.create_report(&new, None).await.unwrap();
    let (b, _) = store.create_report(&new, None).await.unwrap();
    store.create_report(&new, None).await.unwrap();
    store.start_report(a.id).await.unwrap();
    let backlog = store.backlog().await.unwrap();
    assert_eq!((backlog.queued, backlog.running, backlog.outbox_pending), (2, 1, 3));
    let oldest = backlog.outbox_oldest.expect("an oldest job");
    assert!(oldest >= before && oldest <= jiff::Timestamp::now(), "{oldest}");

    store.fail_report(a.id, "boom").await.unwrap();
    store.cancel_report(b.id).await.unwrap();
    let jobs: Vec<i64> = store.pending_jobs(10).await.unwrap().iter().map(|j| j.id).collect();
    store.jobs_sent(&jobs).await.unwrap();
    let backlog = store.backlog().await.unwrap();
    assert_eq!((backlog.queued, backlog.running, backlog.outbox_pending, backlog.outbox_oldest), (1, 0, 0, None));
}

/// A job's trace context goes into its outbox row and comes out to the relay, whether the job
/// is handed over, claimed or read; a retry's job has the retry's; none stays none.
async fn the_trace_context_survives_the_outbox(db: &TestDb) {
    let store = db.store().await;
    store.import_dataset(&seed()).await.unwrap();
    let request = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let new =
        NewReport { traceparent: Some(request), ..NewReport::new("hanoi-hanam", "2019".parse().unwrap(), Lang::Vi) };
    let (traced, job) = store.create_report_claimed(&new, None).await.unwrap();
    assert_eq!(job.unwrap().traceparent.as_deref(), Some(request), "handed over");
    let (plain, _) =
        store.create_report(&NewReport::new("hanoi-hanam", "2019".parse().unwrap(), Lang::Vi), None).await.unwrap();
    let pending = store.pending_jobs(10).await.unwrap();
    let carried: Vec<_> = pending.iter().map(|j| (j.report_id, j.traceparent.as_deref())).collect();
    assert_eq!(carried, [(traced.id, Some(request)), (plain.id, None)], "read back");
    store.release_jobs(&[pending[0].id]).await.unwrap();
    let claimed = store.claim_jobs(10).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.traceparent.as_deref()).collect::<Vec<_>>(), [Some(request), None], "claimed");
    store.jobs_sent(&claimed.iter().map(|j| j.id).collect::<Vec<_>>()).await.unwrap();

    store.cancel_report(plain.id).await.unwrap();
    let retry = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    store.retry_report(plain.id, Some(retry)).await.unwrap();
    let again = store.claim_jobs(10).await.unwrap();
    assert_eq!(
        again.iter().map(|j| (j.report_id, j.traceparent.as_deref())).collect::<Vec<_>>(),
        [(plain.id, Some(retry))]
    );
}

/// A succeeded draft of the seed's 2019 briefing.
async fn draft(store: &coopbrief_store::Store) -> coopbrief_domain::Report {
    let (r, _) =
        store.create_report(&NewReport::new("hanoi-hanam", "2019".parse().unwrap(), Lang::Vi), None).await.unwrap();
    store.start_report(r.id).await.unwrap();
    let pdf = PdfInfo {
        pages: 5,
        bytes: 100,
        sha256: "ab".repeat(32),
        template_version: "t".into(),
        data_hash: "cd".repeat(32),
    };
    store.complete_report(r.id, &pdf).await.unwrap().0
}

fn issued(report: &coopbrief_domain::Report, number: u32) -> Issued {
    Issued {
        number: DocumentNumber { number, symbol: Symbol::parse("BC-UBND", "symbol").unwrap() },
        office: Code::parse("ubnd-hanoi", "office").unwrap(),
        date: jiff::civil::date(2026, 11, 26),
        at: jiff::Timestamp::now(),
        signer: "CHỦ TỊCH Nguyễn Văn A".into(),
        certificate: "CN=test".into(),
        pdf: report.pdf.clone().unwrap(),
    }
}

async fn a_register_gives_numbers_in_order_and_takes_none_back_on_rollback(db: &TestDb) {
    let store = db.store().await;
    store.import_dataset(&seed()).await.unwrap();
    let office = Code::parse("ubnd-hanoi", "office").unwrap();
    let (a, b) = (draft(&store).await, draft(&store).await);
    // Taken and given back (dropped): the next issuance takes the same number.
    let tx = store.begin_issue(a.id, &office, 2026).await.unwrap();
    assert_eq!(tx.number(), 1);
    drop(tx);
    let tx = store.begin_issue(a.id, &office, 2026).await.unwrap();
    assert_eq!(tx.number(), 1);
    let done = tx.commit(&issued(&a, 1)).await.unwrap();
    assert_eq!(done.issued.as_ref().map(|i| i.number.to_string()).as_deref(), Some("1/BC-UBND"));
    assert_eq!(store.report(a.id).await.unwrap().issued, done.issued);
    // Issued once: refused, taking nothing.
    assert!(matches!(store.begin_issue(a.id, &office, 2026).await, Err(Error::FailedPrecondition(_))));
    let tx = store.begin_issue(b.id, &office, 2026).await.unwrap();
    assert_eq!(tx.number(), 2);
    tx.commit(&issued(&b, 2)).await.unwrap();
    // Each year and each office has its own register.
    let c = draft(&store).await;
    assert_eq!(store.begin_issue(c.id, &office, 2027).await.unwrap().number(), 1);
    let other = Code::parse("ubnd-hanam", "office").unwrap();
    assert_eq!(store.begin_issue(c.id, &other, 2026).await.unwrap().number(), 1);
    // A draft that has not succeeded cannot be issued.
    let (queued, _) =
        store.create_report(&NewReport::new("hanoi-hanam", "2019".parse().unwrap(), Lang::Vi), None).await.unwrap();
    assert!(matches!(store.begin_issue(queued.id, &office, 2026).await, Err(Error::FailedPrecondition(_))));
}

/// Two replicas starting together with the same token files, then restarting, then one file
/// changed (a rotation): one live token per name, never a duplicate, never an error.
async fn a_token_given_at_start_is_stored_once_and_a_new_one_rotates_it(db: &TestDb) {
    let (a, b) = (db.store().await, db.store().await);
    let first = "1".repeat(64);
    let starts = futures::future::join_all((0..6).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let hash = first.clone();
        async move { store.bootstrap_token("admin", Role::Admin, &hash, "coopbrief-data").await.unwrap() }
    }))
    .await;
    assert_eq!(starts.iter().filter(|s| **s == Bootstrapped::Created).count(), 1, "{starts:?}");
    assert!(starts.iter().all(|s| matches!(s, Bootstrapped::Created | Bootstrapped::Present)), "{starts:?}");
    assert_eq!(a.bootstrap_token("admin", Role::Admin, &first, "x").await.unwrap(), Bootstrapped::Present);
    assert_eq!(a.tokens(true).await.unwrap().len(), 1);

    // The same token under another name or role is refused, naming the token that holds it.
    let elsewhere = a.bootstrap_token("workers", Role::Worker, &first, "x").await;
    assert!(matches!(elsewhere, Err(Error::AlreadyExists { ref key, .. }) if key == "admin"), "{elsewhere:?}");

    // A new token in the file: the old one is revoked, the new one takes the name.
    let second = "2".repeat(64);
    assert_eq!(b.bootstrap_token("admin", Role::Admin, &second, "x").await.unwrap(), Bootstrapped::Rotated);
    assert!(a.token_by_hash(&first).await.unwrap().unwrap().token.revoked_at.is_some());
    let live = a.tokens(false).await.unwrap();
    assert_eq!(live.iter().map(|t| (t.name.as_str(), t.role)).collect::<Vec<_>>(), [("admin", Role::Admin)]);
    // The old file again (a stale replica): revoked stays revoked, the new token stays live.
    assert_eq!(a.bootstrap_token("admin", Role::Admin, &first, "x").await.unwrap(), Bootstrapped::Revoked);
    assert_eq!(a.token_by_hash(&second).await.unwrap().unwrap().token.revoked_at, None);
    assert_eq!(a.tokens(true).await.unwrap().len(), 2);
}

/// A report with a notify target: its events are written with its state changes (none for a
/// cancel, none without a target), claimed once between two replicas, retried with the same id.
async fn events_are_written_with_the_change_and_claimed_once(db: &TestDb) {
    use coopbrief_domain::webhook::{DeliveryState, EventKind, NotifyUrl};
    use coopbrief_store::SealedTarget;
    use std::time::Duration;
    let a = db.store().await;
    a.import_dataset(&seed()).await.unwrap();
    let b = db.store().await;
    let target =
        SealedTarget { url: NotifyUrl::parse("https://example.org/h", "u").unwrap(), secret: "v1.sealed".into() };
    let new = NewReport { notify: Some(&target), ..NewReport::new("hanoi-hanam", "2019".parse().unwrap(), Lang::Vi) };
    let pdf = PdfInfo { pages: 1, bytes: 1, sha256: "ab".into(), template_version: "t".into(), data_hash: "d".into() };
    let mut ids = Vec::new();
    for _ in 0..6 {
        let (r, _) = a.create_report(&new, None).await.unwrap();
        assert_eq!(r.notification.as_ref().map(|n| n.url.as_str()), Some("https://example.org/h"));
        ids.push(r.id);
    }
    let plain =
        a.create_report(&NewReport::new("hanoi-hanam", "2019".parse().unwrap(), Lang::Vi), None).await.unwrap().0;
    for id in &ids[..3] {
        a.start_report(*id).await.unwrap();
        a.complete_report(*id, &pdf).await.unwrap();
        // A duplicate upload writes no second event.
        a.complete_report(*id, &pdf).await.unwrap();
    }
    a.fail_report(ids[3], "boom").await.unwrap();
    a.fail_report(ids[3], "again").await.unwrap();
    a.cancel_report(ids[4]).await.unwrap();
    a.complete_report(plain.id, &pdf).await.unwrap();
    assert!(a.deliveries(plain.id).await.unwrap().is_empty(), "no target, no event");
    assert!(a.deliveries(ids[4]).await.unwrap().is_empty(), "cancelled: no event");
    assert!(a.deliveries(ids[5]).await.unwrap().is_empty(), "unfinished: no event");
    let failed = a.deliveries(ids[3]).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].kind, failed[0].state), (EventKind::Failed, DeliveryState::Pending));
    let got = a.report(ids[0]).await.unwrap();
    let delivery = got.notification.unwrap().delivery.unwrap();
    assert_eq!((delivery.kind, delivery.attempts), (EventKind::Succeeded, 0));

    // Two senders at once: each event claimed by one of them.
    let (x, y) =
        tokio::join!(a.claim_deliveries(3, Duration::from_secs(60)), b.claim_deliveries(3, Duration::from_secs(60)));
    let (mut x, y) = (x.unwrap(), y.unwrap());
    // (On PostgreSQL the one that waited for the other's row locks may get none this round.)
    x.extend(a.claim_deliveries(10, Duration::from_secs(60)).await.unwrap());
    let mut claimed: Vec<_> = x.iter().chain(&y).map(|d| d.event_id).collect();
    claimed.sort();
    claimed.dedup();
    assert_eq!((x.len() + y.len(), claimed.len()), (4, 4), "four events, each claimed once");
    assert!(b.claim_deliveries(10, Duration::from_secs(60)).await.unwrap().is_empty(), "all leased");
    let d = x.iter().chain(&y).find(|d| d.report_id == ids[0]).unwrap().clone();
    assert_eq!(d.target.secret, "v1.sealed");
    assert!(!a.delivery_delivered(&d.event_id, d.claimed_until + 1).await.unwrap(), "not our lease");
    assert!(a.delivery_failed(&d.event_id, d.claimed_until, "HTTP 500", None).await.unwrap());
    let given_up = a.report(ids[0]).await.unwrap().notification.unwrap().delivery.unwrap();
    assert_eq!(
        (given_up.state, given_up.attempts, given_up.last_error.as_deref()),
        (DeliveryState::GivenUp, 1, Some("HTTP 500"))
    );
    let retried = a.retry_notification(ids[0]).await.unwrap().notification.unwrap().delivery.unwrap();
    assert_eq!((retried.state, retried.attempts, retried.event_id), (DeliveryState::Pending, 0, d.event_id));
    let again = b.claim_deliveries(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].event_id, again[0].payload.clone()), (d.event_id, d.payload.clone()), "the same event");
    assert!(b.delivery_delivered(&d.event_id, again[0].claimed_until).await.unwrap());
    let err = a.retry_notification(plain.id).await.unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err}");
}

coopbrief_store::on_both_backends!(
    events_are_written_with_the_change_and_claimed_once,
    a_token_given_at_start_is_stored_once_and_a_new_one_rotates_it,
    a_register_gives_numbers_in_order_and_takes_none_back_on_rollback,
    a_job_created_claimed_is_handed_over_not_claimed,
    the_trace_context_survives_the_outbox,
    import_is_idempotent_and_round_trips,
    a_broken_import_changes_nothing,
    briefing_data_for_a_period,
    report_life_cycle,
    a_report_and_its_job_are_written_together_and_requests_are_idempotent,
    cancel_and_retry,
    briefing_data_is_dated_by_its_snapshot,
    two_relays_claim_each_job_once,
    briefing_data_sees_changes_made_by_another_replica,
    concurrent_updates_with_one_etag_make_one_change,
    the_backlog_counts_what_waits,
);
