//! The cooperation data API over gRPC: standard methods, pagination, etags, import and export.
//!
//! Each test starts the real data service (SQLite seeded with data/hanoi-hanam.yaml, RabbitMQ)
//! and asserts on what a client sees: codes, messages, field violations and the data itself.

use coopbrief_cli::Client;
use coopbrief_domain::dataset as d;
use coopbrief_proto::resource::{Key, Method, WireResource, path};
use coopbrief_proto::{CooperationServiceClient, v1};
use coopbrief_tests::{TestApp, spawn_app};
use prost_types::FieldMask;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

type Data = CooperationServiceClient<Channel>;

async fn client(app: &TestApp) -> Data {
    CooperationServiceClient::connect(app.endpoint.clone()).await.expect("connect")
}

fn text(vi: &str) -> Option<v1::LocalizedText> {
    Some(v1::LocalizedText { vi: vi.into(), en: None })
}

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask { paths: paths.iter().map(|p| (*p).to_owned()).collect() })
}

/// Asserts the code and, for INVALID_ARGUMENT, that a BadRequest names `field`.
#[track_caller]
fn assert_status<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, field: Option<&str>) -> Status {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    if let Some(field) = field {
        let bad = status.get_details_bad_request().unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
        assert_eq!(bad.field_violations.first().map(|v| v.field.as_str()), Some(field), "{status:?}");
    }
    status
}

fn activity(code: &str) -> v1::Activity {
    v1::Activity {
        programme: "hanoi-hanam".into(),
        code: code.into(),
        sector: Some("culture".into()),
        period: "2019-Q3".into(),
        kind: v1::ActivityKind::Workshop as i32,
        title: text(&format!("Hội thảo {code}")),
        organiser: Some("hanam".into()),
        ..Default::default()
    }
}

fn list_activities(page_size: i32, page_token: &str) -> v1::ListActivitiesRequest {
    v1::ListActivitiesRequest {
        programme: "hanoi-hanam".into(),
        page_size,
        page_token: page_token.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programmes_are_listed() {
    let app = spawn_app(false).await;
    let mut data = client(&app).await;
    let list = data.list_programmes(v1::ListProgrammesRequest::default()).await.expect("list").into_inner();
    assert_eq!(list.programmes.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(), ["hanoi-hanam"]);
    let filtered = data
        .list_programmes(v1::ListProgrammesRequest { partner: "hoabinh".into(), ..Default::default() })
        .await
        .expect("filtered")
        .into_inner();
    assert!(filtered.programmes.is_empty(), "Hòa Bình is not a programme partner");
    let filtered = data
        .list_programmes(v1::ListProgrammesRequest { status: "active".into(), ..Default::default() })
        .await
        .expect("filtered")
        .into_inner();
    assert_eq!(filtered.programmes.len(), 1);
    assert_status(
        data.list_programmes(v1::ListProgrammesRequest { status: "dormant".into(), ..Default::default() }).await,
        Code::InvalidArgument,
        Some("status"),
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_standard_methods() {
    let app = spawn_app(false).await;
    let mut data = client(&app).await;

    let hanoi = data.get_partner(v1::GetPartnerRequest { code: "hanoi".into() }).await.expect("get").into_inner();
    assert_eq!(hanoi.name.as_ref().map(|n| n.vi.as_str()), Some("Hà Nội"));
    assert!(!hanoi.etag.is_empty());
    let s = assert_status(data.get_partner(v1::GetPartnerRequest { code: "hue".into() }).await, Code::NotFound, None);
    assert!(s.message().contains("hue"), "{s:?}");
    assert_status(
        data.get_partner(v1::GetPartnerRequest { code: " ".into() }).await,
        Code::InvalidArgument,
        Some("code"),
    );

    let ninhbinh = v1::Partner {
        code: "ninhbinh".into(),
        name: text("Ninh Bình"),
        kind: v1::PartnerKind::Province as i32,
        etag: String::new(),
    };
    let created = data
        .create_partner(v1::CreatePartnerRequest { partner: Some(ninhbinh.clone()), request_id: String::new() })
        .await
        .expect("create")
        .into_inner();
    assert_eq!(created.code, "ninhbinh");
    assert_status(
        data.create_partner(v1::CreatePartnerRequest { partner: Some(ninhbinh.clone()), request_id: String::new() })
            .await,
        Code::AlreadyExists,
        None,
    );
    assert_status(
        data.create_partner(v1::CreatePartnerRequest {
            partner: Some(v1::Partner { code: "Ninh Bình".into(), ..ninhbinh.clone() }),
            request_id: String::new(),
        })
        .await,
        Code::InvalidArgument,
        Some("partner.code"),
    );
    assert_status(
        data.create_partner(v1::CreatePartnerRequest {
            partner: Some(v1::Partner { kind: 0, ..ninhbinh.clone() }),
            request_id: String::new(),
        })
        .await,
        Code::InvalidArgument,
        Some("partner.kind"),
    );

    // Field mask: only the name changes.
    let patch = v1::Partner {
        code: "ninhbinh".into(),
        name: Some(v1::LocalizedText { vi: "Ninh Bình".into(), en: Some("Ninh Binh".into()) }),
        kind: v1::PartnerKind::City as i32,
        etag: created.etag.clone(),
    };
    let updated = data
        .update_partner(v1::UpdatePartnerRequest { partner: Some(patch.clone()), update_mask: mask(&["name"]) })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.name.as_ref().and_then(|n| n.en.as_deref()), Some("Ninh Binh"));
    assert_eq!(updated.kind, v1::PartnerKind::Province as i32, "kind was not in the mask");
    assert_ne!(updated.etag, created.etag);
    // The same etag again is stale now.
    assert_status(
        data.update_partner(v1::UpdatePartnerRequest { partner: Some(patch.clone()), update_mask: mask(&["kind"]) })
            .await,
        Code::Aborted,
        None,
    );
    assert_status(
        data.update_partner(v1::UpdatePartnerRequest {
            partner: Some(v1::Partner { etag: String::new(), ..patch.clone() }),
            update_mask: mask(&["colour"]),
        })
        .await,
        Code::InvalidArgument,
        Some("update_mask"),
    );
    assert_status(
        data.update_partner(v1::UpdatePartnerRequest {
            partner: Some(v1::Partner { code: "hue".into(), ..patch.clone() }),
            update_mask: mask(&["name"]),
        })
        .await,
        Code::NotFound,
        None,
    );

    // A partner in use stays; an unused one goes, and a stale etag protects it.
    let s = assert_status(
        data.delete_partner(v1::DeletePartnerRequest { code: "hanoi".into(), etag: String::new() }).await,
        Code::FailedPrecondition,
        None,
    );
    assert!(s.message().contains("hanoi-hanam"), "{s:?}");
    let s = assert_status(
        data.delete_partner(v1::DeletePartnerRequest { code: "hoabinh".into(), etag: String::new() }).await,
        Code::FailedPrecondition,
        None,
    );
    assert!(s.message().contains("hanoi-hanam"), "a project names Hòa Bình: {s:?}");
    data.get_partner(v1::GetPartnerRequest { code: "hanoi".into() }).await.expect("hanoi is still there");
    assert_status(
        data.delete_partner(v1::DeletePartnerRequest { code: "ninhbinh".into(), etag: created.etag.clone() }).await,
        Code::Aborted,
        None,
    );
    data.delete_partner(v1::DeletePartnerRequest { code: "ninhbinh".into(), etag: updated.etag.clone() })
        .await
        .expect("delete");
    assert_status(data.get_partner(v1::GetPartnerRequest { code: "ninhbinh".into() }).await, Code::NotFound, None);
    assert_status(
        data.delete_partner(v1::DeletePartnerRequest { code: "ninhbinh".into(), etag: String::new() }).await,
        Code::NotFound,
        None,
    );

    let page = data
        .list_partners(v1::ListPartnersRequest { programme: "hanoi-hanam".into(), ..Default::default() })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.partners.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(), ["hanoi", "hanam"]);
    let page = data
        .list_partners(v1::ListPartnersRequest { kind: "province".into(), ..Default::default() })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.partners.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(), ["hanam", "hoabinh"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sector_standard_methods() {
    let app = spawn_app(false).await;
    let mut data = client(&app).await;
    let all = data.list_sectors(v1::ListSectorsRequest::default()).await.expect("list").into_inner();
    assert_eq!(all.sectors.len(), 12);

    // A programme-specific sector: listed with its programme, usable only there.
    let own = v1::Sector {
        code: "craft-villages".into(),
        name: text("Làng nghề"),
        programme: Some("hanoi-hanam".into()),
        etag: String::new(),
    };
    let created =
        data.create_sector(v1::CreateSectorRequest { sector: Some(own.clone()), request_id: String::new() }).await;
    let created = created.expect("create").into_inner();
    assert_status(
        data.create_sector(v1::CreateSectorRequest {
            sector: Some(v1::Sector { code: "x".into(), programme: Some("nowhere".into()), ..own.clone() }),
            request_id: String::new(),
        })
        .await,
        Code::InvalidArgument,
        Some("sector.programme"),
    );
    let listed = data
        .list_sectors(v1::ListSectorsRequest { programme: "hanoi-hanam".into(), ..Default::default() })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.sectors.len(), 13);
    assert_eq!(listed.sectors.last().map(|s| s.code.as_str()), Some("craft-villages"));
    let exported = export(&mut data).await;
    assert!(
        exported.contains("- code: craft-villages\n  name:\n    vi: Làng nghề\n  programme: hanoi-hanam\n"),
        "{exported}"
    );
    import(&mut data, &exported).await.expect("a programme's own sector imports back");
    // Another programme cannot use it.
    let other = v1::Programme {
        code: "hanoi-hoabinh".into(),
        title: text("Hà Nội – Hòa Bình"),
        short_name: text("Hà Nội – Hòa Bình"),
        status: v1::ProgrammeStatus::Active as i32,
        partners: vec![
            v1::ProgrammePartner { partner: "hanoi".into(), role: text("Thành phố") },
            v1::ProgrammePartner { partner: "hoabinh".into(), role: text("Tỉnh") },
        ],
        ..Default::default()
    };
    data.create_programme(v1::CreateProgrammeRequest { programme: Some(other), request_id: String::new() })
        .await
        .expect("create");
    let mut a = activity("weaving");
    a.programme = "hanoi-hoabinh".into();
    a.sector = Some("craft-villages".into());
    let req = v1::CreateActivityRequest { activity: Some(a), request_id: String::new() };
    let s = assert_status(data.create_activity(req).await, Code::InvalidArgument, Some("activity.sector"));
    assert!(s.message().contains("belongs to programme"), "{s:?}");

    let updated = data
        .update_sector(v1::UpdateSectorRequest {
            sector: Some(v1::Sector { name: text("Làng nghề truyền thống"), ..created.clone() }),
            update_mask: mask(&["name"]),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.name.map(|n| n.vi), Some("Làng nghề truyền thống".into()));

    // A sector in use cannot be deleted.
    let s = assert_status(
        data.delete_sector(v1::DeleteSectorRequest { code: "transport".into(), etag: String::new() }).await,
        Code::FailedPrecondition,
        None,
    );
    assert!(s.message().contains("transport"), "{s:?}");
    data.delete_sector(v1::DeleteSectorRequest { code: "craft-villages".into(), etag: String::new() })
        .await
        .expect("delete");
    assert_status(data.get_sector(v1::GetSectorRequest { code: "craft-villages".into() }).await, Code::NotFound, None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programme_standard_methods() {
    let app = spawn_app(false).await;
    let mut data = client(&app).await;
    let p = data.get_programme(v1::GetProgrammeRequest { code: "hanoi-hanam".into() }).await.expect("get");
    let p = p.into_inner();
    assert_eq!(p.projects.len(), 4, "Get returns the programme with its records");

    let new = v1::Programme {
        code: "hanoi-hoabinh".into(),
        title: text("Chương trình hợp tác Hà Nội – Hòa Bình"),
        short_name: text("Hà Nội – Hòa Bình"),
        status: v1::ProgrammeStatus::Planned as i32,
        partners: vec![
            v1::ProgrammePartner { partner: "hanoi".into(), role: text("Thành phố") },
            v1::ProgrammePartner { partner: "hoabinh".into(), role: text("Tỉnh") },
        ],
        agreed_on: Some("2019-10-01".into()),
        signatories: vec![v1::LocalizedText { vi: "Bí thư Thành ủy Hà Nội".into(), en: None }],
        valid: Some("2019..2020".into()),
        ..Default::default()
    };
    let created = data
        .create_programme(v1::CreateProgrammeRequest { programme: Some(new.clone()), request_id: String::new() })
        .await
        .expect("create")
        .into_inner();
    assert_eq!(created.valid.as_deref(), Some("2019..2020"));
    assert_status(
        data.create_programme(v1::CreateProgrammeRequest { programme: Some(new.clone()), request_id: String::new() })
            .await,
        Code::AlreadyExists,
        None,
    );
    let mut one_partner = new.clone();
    one_partner.code = "solo".into();
    one_partner.partners.truncate(1);
    assert_status(
        data.create_programme(v1::CreateProgrammeRequest { programme: Some(one_partner), request_id: String::new() })
            .await,
        Code::InvalidArgument,
        Some("programme.partners"),
    );
    let mut unknown = new.clone();
    unknown.code = "hanoi-hue".into();
    unknown.partners[1].partner = "hue".into();
    assert_status(
        data.create_programme(v1::CreateProgrammeRequest { programme: Some(unknown), request_id: String::new() }).await,
        Code::InvalidArgument,
        Some("programme.partners[1].partner"),
    );
    let s = assert_status(
        data.create_programme(v1::CreateProgrammeRequest {
            programme: Some(v1::Programme { valid: Some("2019..2018".into()), code: "x".into(), ..new.clone() }),
            request_id: String::new(),
        })
        .await,
        Code::InvalidArgument,
        Some("programme.valid"),
    );
    assert!(s.message().contains("programme.valid"), "{s:?}");

    let updated = data
        .update_programme(v1::UpdateProgrammeRequest {
            programme: Some(v1::Programme {
                code: "hanoi-hoabinh".into(),
                status: v1::ProgrammeStatus::Active as i32,
                etag: created.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["status"]),
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.status, v1::ProgrammeStatus::Active as i32);
    assert_eq!(updated.title, new.title, "title was not in the mask");
    assert_status(
        data.update_programme(v1::UpdateProgrammeRequest {
            programme: Some(v1::Programme { code: "hanoi-hoabinh".into(), ..Default::default() }),
            update_mask: mask(&["projects"]),
        })
        .await,
        Code::InvalidArgument,
        Some("update_mask"),
    );
    assert_status(
        data.delete_programme(v1::DeleteProgrammeRequest { code: "hanoi-hoabinh".into(), etag: created.etag }).await,
        Code::Aborted,
        None,
    );
    data.delete_programme(v1::DeleteProgrammeRequest { code: "hanoi-hoabinh".into(), etag: updated.etag })
        .await
        .expect("delete");
    assert_status(
        data.get_programme(v1::GetProgrammeRequest { code: "hanoi-hoabinh".into() }).await,
        Code::NotFound,
        None,
    );

    // A programme with reports keeps them: deleting it is refused and nothing goes.
    app.client.request("hanoi-hanam", "2019", "vi").await.expect("report requested");
    assert_status(
        data.delete_programme(v1::DeleteProgrammeRequest { code: "hanoi-hanam".into(), etag: String::new() }).await,
        Code::FailedPrecondition,
        None,
    );
    let p = data.get_programme(v1::GetProgrammeRequest { code: "hanoi-hanam".into() }).await.expect("still there");
    assert_eq!(p.into_inner().projects.len(), 4);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_stable_under_inserts() {
    let app = spawn_app(false).await;
    let mut data = client(&app).await;
    let before: Vec<String> = data
        .list_activities(list_activities(0, ""))
        .await
        .expect("all")
        .into_inner()
        .activities
        .into_iter()
        .map(|a| a.code)
        .collect();
    assert_eq!(before.len(), 6);

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = data.list_activities(list_activities(2, &token)).await.expect("page").into_inner();
        assert!(page.activities.len() <= 2);
        seen.extend(page.activities.into_iter().map(|a| a.code));
        // Someone adds an activity between every two calls.
        let code = format!("inserted-{pages}");
        data.create_activity(v1::CreateActivityRequest { activity: Some(activity(&code)), request_id: String::new() })
            .await
            .expect("insert");
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no activity twice: {seen:?}");
    for code in &before {
        assert!(seen.contains(code), "{code} was skipped: {seen:?}");
    }
    assert!(pages >= 3);

    assert_status(data.list_activities(list_activities(-1, "")).await, Code::InvalidArgument, Some("page_size"));
    assert_status(data.list_activities(list_activities(2, "garbage")).await, Code::InvalidArgument, Some("page_token"));
    let big = data.list_activities(list_activities(100_000, "")).await.expect("clamped").into_inner();
    assert!(big.next_page_token.is_empty());
    // A token is only good for the query that issued it.
    let first = data.list_activities(list_activities(1, "")).await.expect("page").into_inner();
    let other =
        v1::ListActivitiesRequest { sector: "agriculture".into(), ..list_activities(1, &first.next_page_token) };
    assert_status(data.list_activities(other).await, Code::InvalidArgument, Some("page_token"));
    let partners_page = v1::ListPartnersRequest { page_token: first.next_page_token, ..Default::default() };
    assert_status(data.list_partners(partners_page).await, Code::InvalidArgument, Some("page_token"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_by_programme_sector_period_and_status() {
    let app = spawn_app(false).await;
    let mut data = client(&app).await;
    let req = v1::ListProjectsRequest { sector: "environment".into(), ..Default::default() };
    let env = data.list_projects(req).await.expect("by sector").into_inner().projects;
    assert_eq!(
        env.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(),
        ["nhue-day-upstream-forest", "craft-village-environment"]
    );
    assert!(env.iter().all(|p| p.programme == "hanoi-hanam" && !p.etag.is_empty()));
    let req = v1::ListProjectsRequest { status: "completed".into(), ..Default::default() };
    assert!(data.list_projects(req).await.expect("by status").into_inner().projects.is_empty());
    let req = v1::ListProjectsRequest { status: "in_progress".into(), ..Default::default() };
    assert_eq!(data.list_projects(req).await.expect("by status").into_inner().projects.len(), 4);
    let req = v1::ListProjectsRequest { status: "late".into(), ..Default::default() };
    assert_status(data.list_projects(req).await, Code::InvalidArgument, Some("status"));
    let req = v1::ListActivitiesRequest { status: "planned".into(), ..Default::default() };
    assert_status(data.list_activities(req).await, Code::InvalidArgument, Some("status"));

    let req = v1::ListContributionsRequest { period: "2019".into(), ..Default::default() };
    assert_eq!(data.list_contributions(req).await.expect("2019").into_inner().contributions.len(), 1);
    let req = v1::ListContributionsRequest { period: "2018".into(), ..Default::default() };
    assert!(data.list_contributions(req).await.expect("2018").into_inner().contributions.is_empty());
    let req = v1::ListDirectionsRequest { period: "2020-Q1".into(), ..Default::default() };
    assert_eq!(data.list_directions(req).await.expect("2020").into_inner().directions.len(), 4);
    let req = v1::ListIndicatorsRequest { period: "2014".into(), ..Default::default() };
    assert!(data.list_indicators(req).await.expect("2014").into_inner().indicators.is_empty());
    let req = v1::ListAssessmentsRequest { programme: "nowhere".into(), ..Default::default() };
    assert!(data.list_assessments(req).await.expect("none").into_inner().assessments.is_empty());
    let req = v1::ListAssessmentsRequest { period: "2019-13".into(), ..Default::default() };
    assert_status(data.list_assessments(req).await, Code::InvalidArgument, Some("period"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_create_returns_the_first_result() {
    let app = spawn_app(false).await;
    let mut data = client(&app).await;
    let id = uuid::Uuid::now_v7().to_string();
    let req = v1::CreateActivityRequest { activity: Some(activity("retried")), request_id: id.clone() };
    let first = data.create_activity(req.clone()).await.expect("first").into_inner();
    let again = data.create_activity(req.clone()).await.expect("retry").into_inner();
    assert_eq!(first, again);
    let all = data.list_activities(list_activities(0, "")).await.expect("list").into_inner().activities;
    assert_eq!(all.iter().filter(|a| a.code == "retried").count(), 1);
    // Without the request id the same create is a duplicate.
    let fresh = v1::CreateActivityRequest { request_id: String::new(), ..req.clone() };
    assert_status(data.create_activity(fresh).await, Code::AlreadyExists, None);
    // The id belongs to that request; it cannot create something else.
    let other = v1::CreateContributionRequest {
        contribution: Some(v1::Contribution {
            programme: "hanoi-hanam".into(),
            code: "other".into(),
            from: "hanoi".into(),
            to: "hanam".into(),
            amount_vnd: 1,
            purpose: text("x"),
            period: "2019".into(),
            ..Default::default()
        }),
        request_id: id,
    };
    assert_status(data.create_contribution(other).await, Code::InvalidArgument, Some("request_id"));
    let bad_id = v1::CreateActivityRequest { request_id: "again-please".into(), ..req };
    assert_status(data.create_activity(bad_id).await, Code::InvalidArgument, Some("request_id"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_standard_methods_and_field_masks() {
    let app = spawn_app(false).await;
    let mut data = client(&app).await;

    // Activity: create errors name the field.
    let mut bad = activity("bad");
    bad.sector = Some("railways".into());
    let req = v1::CreateActivityRequest { activity: Some(bad), request_id: String::new() };
    assert_status(data.create_activity(req).await, Code::InvalidArgument, Some("activity.sector"));
    let mut bad = activity("bad");
    bad.organiser = Some("hue".into());
    let req = v1::CreateActivityRequest { activity: Some(bad), request_id: String::new() };
    assert_status(data.create_activity(req).await, Code::InvalidArgument, Some("activity.organiser"));
    let mut bad = activity("bad");
    bad.period = "2019-Q5".into();
    let req = v1::CreateActivityRequest { activity: Some(bad), request_id: String::new() };
    assert_status(data.create_activity(req).await, Code::InvalidArgument, Some("activity.period"));
    let mut bad = activity("bad");
    bad.programme = "nowhere".into();
    let req = v1::CreateActivityRequest { activity: Some(bad), request_id: String::new() };
    assert_status(data.create_activity(req).await, Code::NotFound, None);
    let req = v1::CreateActivityRequest { activity: None, request_id: String::new() };
    assert_status(data.create_activity(req).await, Code::InvalidArgument, Some("activity"));

    // Project: a field-mask update changes only the masked fields.
    let get = v1::GetProjectRequest { programme: "hanoi-hanam".into(), code: "ring-road-5".into() };
    let road = data.get_project(get.clone()).await.expect("get").into_inner();
    let patch = v1::Project {
        programme: "hanoi-hanam".into(),
        code: "ring-road-5".into(),
        progress: Some(60),
        status: v1::ProjectStatus::Completed as i32,
        milestones: vec![v1::Milestone {
            date: "2019-12-01".into(),
            text: text("Thông xe đoạn qua Hà Nam"),
            done: true,
        }],
        etag: road.etag.clone(),
        ..Default::default()
    };
    let req = v1::UpdateProjectRequest { project: Some(patch.clone()), update_mask: mask(&["progress", "milestones"]) };
    let updated = data.update_project(req).await.expect("update").into_inner();
    assert_eq!(updated.progress, Some(60));
    assert_eq!(updated.milestones.len(), 1);
    assert_eq!(updated.status, road.status, "status was not in the mask");
    assert_eq!(updated.name, road.name);
    assert_eq!(data.get_project(get.clone()).await.expect("get").into_inner(), updated);
    // Stale etag: ABORTED, nothing written.
    let req = v1::UpdateProjectRequest { project: Some(patch.clone()), update_mask: mask(&["status"]) };
    assert_status(data.update_project(req).await, Code::Aborted, None);
    assert_eq!(data.get_project(get.clone()).await.expect("get").into_inner().status, road.status);
    let req = v1::UpdateProjectRequest {
        project: Some(v1::Project { progress: Some(101), etag: String::new(), ..patch.clone() }),
        update_mask: mask(&["progress"]),
    };
    assert_status(data.update_project(req).await, Code::InvalidArgument, Some("project.progress"));
    let req = v1::UpdateProjectRequest { project: Some(patch.clone()), update_mask: mask(&["code"]) };
    assert_status(data.update_project(req).await, Code::InvalidArgument, Some("update_mask"));

    // Contribution: an exact amount in another currency.
    let gift = v1::Contribution {
        programme: "hanoi-hanam".into(),
        code: "books-2020".into(),
        from: "hanam".into(),
        to: "hanoi".into(),
        amount_vnd: 230_000_000,
        currency: Some("USD".into()),
        amount: Some("10000.50".into()),
        purpose: text("Sách cho thư viện"),
        period: "2020".into(),
        ..Default::default()
    };
    let req = v1::CreateContributionRequest { contribution: Some(gift.clone()), request_id: String::new() };
    let created = data.create_contribution(req).await.expect("create").into_inner();
    assert_eq!(created.amount.as_deref(), Some("10000.50"));
    let req = v1::CreateContributionRequest {
        contribution: Some(v1::Contribution { code: "x".into(), currency: Some("dollars".into()), ..gift.clone() }),
        request_id: String::new(),
    };
    assert_status(data.create_contribution(req).await, Code::InvalidArgument, Some("contribution.currency"));
    let req = v1::CreateContributionRequest {
        contribution: Some(v1::Contribution { code: "y".into(), amount_vnd: 0, ..gift.clone() }),
        request_id: String::new(),
    };
    assert_status(data.create_contribution(req).await, Code::InvalidArgument, Some("contribution.amount_vnd"));

    // Indicator: values are updated as a whole.
    let get = v1::GetIndicatorRequest { programme: "hanoi-hanam".into(), code: "fairs".into() };
    let fairs = data.get_indicator(get.clone()).await.expect("get").into_inner();
    let mut values = fairs.values.clone();
    values.push(v1::IndicatorValue { period: "2020".into(), value: "4".into(), source: None, note: None });
    let req = v1::UpdateIndicatorRequest {
        indicator: Some(v1::Indicator { values, ..fairs.clone() }),
        update_mask: mask(&["values"]),
    };
    let updated = data.update_indicator(req).await.expect("update").into_inner();
    assert_eq!(updated.values.len(), 2);
    let mut twice = updated.values.clone();
    twice.push(twice[1].clone());
    let req = v1::UpdateIndicatorRequest {
        indicator: Some(v1::Indicator { values: twice, etag: String::new(), ..fairs.clone() }),
        update_mask: mask(&["values"]),
    };
    assert_status(data.update_indicator(req).await, Code::InvalidArgument, Some("indicator.values[2].period"));

    // Assessments and directions: seeded ones are keyed by place; new ones carry a code.
    let get = v1::GetAssessmentRequest { programme: "hanoi-hanam".into(), code: "assessment-4".into() };
    let limitation = data.get_assessment(get).await.expect("get").into_inner();
    assert_eq!(limitation.kind, v1::AssessmentKind::Limitation as i32);
    let lesson = v1::Assessment {
        programme: "hanoi-hanam".into(),
        code: "lesson-2019".into(),
        period: "2019".into(),
        kind: v1::AssessmentKind::Lesson as i32,
        text: text("Cần cơ chế phối hợp thường xuyên."),
        ..Default::default()
    };
    let req = v1::CreateAssessmentRequest { assessment: Some(lesson.clone()), request_id: String::new() };
    data.create_assessment(req).await.expect("create");
    let req = v1::CreateAssessmentRequest {
        assessment: Some(v1::Assessment { code: String::new(), ..lesson.clone() }),
        request_id: String::new(),
    };
    assert_status(data.create_assessment(req).await, Code::InvalidArgument, Some("assessment.code"));
    let direction = v1::Direction {
        programme: "hanoi-hanam".into(),
        code: "tourism-2020".into(),
        period: "2020".into(),
        sector: Some("tourism".into()),
        text: text("Kết nối tour du lịch Hà Nội – Hà Nam."),
        ..Default::default()
    };
    let req = v1::CreateDirectionRequest { direction: Some(direction.clone()), request_id: String::new() };
    let d = data.create_direction(req).await.expect("create").into_inner();
    let req = v1::UpdateDirectionRequest {
        direction: Some(v1::Direction { text: text("Kết nối tour du lịch."), ..d.clone() }),
        update_mask: None,
    };
    let d2 = data.update_direction(req).await.expect("full replacement").into_inner();
    assert_eq!(d2.text.map(|t| t.vi), Some("Kết nối tour du lịch.".into()));

    // Deletes.
    let del = v1::DeleteDirectionRequest { programme: "hanoi-hanam".into(), code: "tourism-2020".into(), etag: d.etag };
    assert_status(data.delete_direction(del.clone()).await, Code::Aborted, None);
    data.delete_direction(v1::DeleteDirectionRequest { etag: String::new(), ..del.clone() }).await.expect("delete");
    assert_status(data.delete_direction(del).await, Code::NotFound, None);
    let del = v1::DeleteActivityRequest {
        programme: "hanoi-hanam".into(),
        code: "product-fairs".into(),
        etag: String::new(),
    };
    data.delete_activity(del.clone()).await.expect("delete");
    let get = v1::GetActivityRequest { programme: "hanoi-hanam".into(), code: "product-fairs".into() };
    assert_status(data.get_activity(get).await, Code::NotFound, None);
    let etag = updated_etag(&mut data).await;
    let del = v1::DeleteProjectRequest { programme: "hanoi-hanam".into(), code: "ring-road-5".into(), etag };
    data.delete_project(del).await.expect("delete with the current etag");

    // The briefing sees the changes.
    let b = data
        .get_briefing_data(v1::GetBriefingDataRequest { programme: "hanoi-hanam".into(), period: "2020".into() })
        .await
        .expect("briefing")
        .into_inner();
    let p = b.programme.expect("programme");
    assert!(p.contributions.iter().any(|c| c.code == "books-2020"));
    assert!(p.projects.iter().all(|x| x.code != "ring-road-5"));
    assert!(p.indicators.iter().any(|i| i.code == "fairs" && i.values.len() == 2), "this and the previous period");
    app.stop().await;
}

async fn updated_etag(data: &mut Data) -> String {
    let get = v1::GetProjectRequest { programme: "hanoi-hanam".into(), code: "ring-road-5".into() };
    data.get_project(get).await.expect("get").into_inner().etag
}

async fn export(data: &mut Data) -> String {
    let req = v1::ExportProgrammeRequest { programme: "hanoi-hanam".into() };
    data.export_programme(req).await.expect("export").into_inner().yaml
}

async fn import(data: &mut Data, yaml: &str) -> Result<v1::ImportProgrammeResponse, Status> {
    let req = v1::ImportProgrammeRequest { yaml: yaml.into(), validate_only: false };
    data.import_programme(req).await.map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_export_is_byte_identical() {
    let app = spawn_app(false).await;
    let mut data = client(&app).await;
    let first = export(&mut data).await;
    let seed = coopbrief_domain::dataset::Dataset::bundled().expect("seed");
    assert_eq!(coopbrief_domain::exchange::from_yaml(&first).expect("parses"), seed, "the export is the seed");

    let report = import(&mut data, &first).await.expect("import");
    assert!(report.created.is_empty() && report.changed.is_empty() && report.deleted.is_empty(), "{report:?}");
    assert!(report.unchanged.contains(&"hanoi-hanam/activity/product-fairs".to_owned()));
    assert_eq!(export(&mut data).await, first);

    // An edited document: one change, one new record, one record gone; then back again.
    let edited = first.replacen("value: '87'", "value: '90'", 1).replacen(
        "  - code: product-fairs\n",
        "  - code: spring-fair\n    period: 2020-Q1\n    kind: fair\n    title:\n      vi: Hội chợ xuân\n  - code: product-fairs\n",
        1,
    );
    let edited = edited.replacen("  - code: agriculture-exchange", "  - code: agriculture-exchange-x", 1);
    let report = import(&mut data, &edited).await.expect("import edited");
    assert_eq!(report.changed, ["hanoi-hanam/indicator/enterprises-introduced"], "{report:?}");
    assert_eq!(report.created, ["hanoi-hanam/activity/spring-fair", "hanoi-hanam/activity/agriculture-exchange-x"]);
    assert_eq!(report.deleted, ["hanoi-hanam/activity/agriculture-exchange"]);
    assert_eq!(export(&mut data).await, edited);
    let dry = data
        .import_programme(v1::ImportProgrammeRequest { yaml: first.clone(), validate_only: true })
        .await
        .expect("dry run")
        .into_inner();
    assert_eq!(dry.changed.len(), 1);
    assert_eq!(export(&mut data).await, edited, "a dry run writes nothing");
    import(&mut data, &first).await.expect("import the original");
    assert_eq!(export(&mut data).await, first);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_import_changes_nothing() {
    let app = spawn_app(false).await;
    let mut data = client(&app).await;
    let before = export(&mut data).await;
    // Valid edits at the top, and a broken reference near the end: nothing may land.
    let broken = before
        .replacen("en: Hanoi\n", "en: Ha Noi capital\n", 1)
        .replacen("value: '87'", "value: '90'", 1)
        .replacen("from: hanoi", "from: saigon", 1);
    let s = assert_status(
        import(&mut data, &broken).await,
        Code::InvalidArgument,
        Some("programmes[0].contributions[0].from"),
    );
    let line = broken.lines().position(|l| l.contains("saigon")).expect("line") + 1;
    assert!(s.message().contains(&format!("line {line}")) && s.message().contains("saigon"), "{s:?}");
    assert_eq!(export(&mut data).await, before);

    // A syntax error names the line too.
    let broken = before.replacen("kind: city", "kind: metropolis", 1);
    let s = assert_status(import(&mut data, &broken).await, Code::InvalidArgument, Some("yaml"));
    assert!(s.message().contains("metropolis") && s.message().contains("line"), "{s:?}");
    assert_status(import(&mut data, "   ").await, Code::InvalidArgument, Some("yaml"));
    assert_eq!(export(&mut data).await, before);
    assert_status(
        data.export_programme(v1::ExportProgrammeRequest { programme: "nowhere".into() }).await,
        Code::NotFound,
        None,
    );
    app.stop().await;
}

/// One record kind through its standard methods, generic over its description: NOT_FOUND for
/// what is not there, INVALID_ARGUMENT naming a missing programme, code or body.
async fn record_kind_answers_not_found_and_names_missing_fields<R: WireResource>(client: &Client) {
    let key = |programme: &str, code: &str| Key { programme: programme.into(), code: code.into(), etag: String::new() };
    let get = |k| client.call::<R::Get, R::Wire>(path::<R>(Method::Get), R::get_request(k));
    assert_status(get(key("hanoi-hanam", "nope")).await, Code::NotFound, None);
    assert_status(get(key("", "nope")).await, Code::InvalidArgument, Some("programme"));
    assert_status(get(key("hanoi-hanam", "")).await, Code::InvalidArgument, Some("code"));
    let delete = R::delete_request(key("hanoi-hanam", "nope"));
    assert_status(client.call::<R::Delete, ()>(path::<R>(Method::Delete), delete).await, Code::NotFound, None);
    let mut w = R::Wire::default();
    R::set_key(&mut w, &key("hanoi-hanam", "nope"));
    let update = |r| client.call::<R::Update, R::Wire>(path::<R>(Method::Update), r);
    assert_status(update(R::update_request(w, FieldMask::default())).await, Code::NotFound, None);
    assert_status(update(R::Update::default()).await, Code::InvalidArgument, Some(R::NAME));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_kind_answers_not_found_and_names_missing_fields() {
    let app = spawn_app(false).await;
    record_kind_answers_not_found_and_names_missing_fields::<d::Indicator>(&app.client).await;
    record_kind_answers_not_found_and_names_missing_fields::<d::Activity>(&app.client).await;
    record_kind_answers_not_found_and_names_missing_fields::<d::Project>(&app.client).await;
    record_kind_answers_not_found_and_names_missing_fields::<d::Contribution>(&app.client).await;
    record_kind_answers_not_found_and_names_missing_fields::<d::Assessment>(&app.client).await;
    record_kind_answers_not_found_and_names_missing_fields::<d::Direction>(&app.client).await;
    app.stop().await;
}
