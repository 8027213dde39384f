//! The cooperation data API over gRPC: standard methods, pagination, etags, import and export.

use coopbrief_proto::CooperationServiceClient;
use coopbrief_proto::v1;
use coopbrief_tests::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programmes_are_listed() {
    let app = spawn_app(false).await;
    let mut data = CooperationServiceClient::connect(app.endpoint.clone()).await.expect("connect");
    let list = data.list_programmes(v1::ListProgrammesRequest {}).await.expect("list").into_inner();
    assert_eq!(list.programmes.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(), ["hanoi-hanam"]);
    app.stop().await;
}
