//! The GitHub client's resilience, seen through `action-generate` against a
//! fake API: server errors, rate limits, truncated pages, slow answers, and
//! clear errors naming the endpoint. POST's no-blind-retry rule is checked on
//! the client directly.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use support::{example_repo, sha, ActionRun};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const FILES: &str = "/repos/octo-org/infra/pulls/7/files";

fn event() -> String {
    json!({"pull_request": {"number": 7, "head": {"sha": sha('a')}, "labels": []}}).to_string()
}

fn run(server: &MockServer) -> ActionRun {
    ActionRun::new("action-generate", example_repo())
        .github(&server.uri())
        .env("GITHUB_EVENT_NAME", "pull_request")
        .event(event())
        .temp_input("plan-dir", "plan")
}

fn ok_files() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!([{"filename": "config/clusters/cluster1/hub2.values.yaml"}]))
}

async fn mount_sequence(server: &MockServer, first: ResponseTemplate, times: u64, then: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(FILES))
        .respond_with(first)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET")).and(path(FILES)).respond_with(then).with_priority(2).mount(server).await;
}

fn planned_hub2(result: &support::ActionResult) {
    assert!(result.success(), "{}\n{}", result.stdout, result.stderr);
    assert_eq!(result.json_output("prod-hub-matrix-jobs")[0]["hub_name"], "hub2");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried() {
    let server = MockServer::start().await;
    mount_sequence(&server, ResponseTemplate::new(502), 2, ok_files()).await;
    let result = run(&server).run_async().await;
    planned_hub2(&result);
    assert!(result.stdout.contains("GitHub API: 3 requests"), "{}", result.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_server_errors_fail_naming_endpoint_and_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(FILES))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"message": "Service Unavailable"})))
        .expect(4)
        .mount(&server)
        .await;
    let result = run(&server).run_async().await;
    assert_eq!(result.output.status.code(), Some(1));
    assert!(
        result
            .stdout
            .contains("::error::GitHub API GET /repos/octo-org/infra/pulls/7/files: HTTP 503: Service Unavailable"),
        "{}",
        result.stdout
    );
    assert_eq!(result.raw_outputs, "", "nothing is written when the API fails");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(FILES))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    let result = run(&server).run_async().await;
    assert!(
        result.stdout.contains("GET /repos/octo-org/infra/pulls/7/files: HTTP 404: Not Found"),
        "{}",
        result.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_are_waited_out() {
    // Primary limit: remaining 0 and a reset time; secondary limit: retry-after.
    let server = MockServer::start().await;
    let reset = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() + 1;
    mount_sequence(
        &server,
        ResponseTemplate::new(403)
            .insert_header("x-ratelimit-remaining", "0")
            .insert_header("x-ratelimit-reset", reset.to_string().as_str())
            .set_body_json(json!({"message": "API rate limit exceeded"})),
        1,
        ok_files(),
    )
    .await;
    let started = Instant::now();
    planned_hub2(&run(&server).run_async().await);
    assert!(started.elapsed() >= Duration::from_millis(900), "waited for the reset");

    let secondary = MockServer::start().await;
    mount_sequence(
        &secondary,
        ResponseTemplate::new(429)
            .insert_header("retry-after", "1")
            .set_body_json(json!({"message": "You have exceeded a secondary rate limit"})),
        1,
        ok_files(),
    )
    .await;
    let started = Instant::now();
    planned_hub2(&run(&secondary).run_async().await);
    assert!(started.elapsed() >= Duration::from_secs(1), "honoured retry-after");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_past_the_budget_fails_at_once() {
    let server = MockServer::start().await;
    let reset = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() + 3600;
    Mock::given(method("GET"))
        .and(path(FILES))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let result = run(&server).run_async().await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(result.stdout.contains("HTTP 403: rate limited; waiting"), "{}", result.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_pages_are_fetched_again() {
    let server = MockServer::start().await;
    mount_sequence(
        &server,
        ResponseTemplate::new(200).set_body_raw(r#"[{"filename": "config/clus"#, "application/json"),
        1,
        ok_files(),
    )
    .await;
    planned_hub2(&run(&server).run_async().await);

    let always = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(FILES))
        .respond_with(ResponseTemplate::new(200).set_body_raw("[{", "application/json"))
        .mount(&always)
        .await;
    let result = run(&always).run_async().await;
    assert!(result.stdout.contains("the response is not complete JSON after 4 attempts"), "{}", result.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_answers_time_out_and_are_retried() {
    let server = MockServer::start().await;
    mount_sequence(&server, ok_files().set_delay(Duration::from_secs(3)), 1, ok_files()).await;
    let started = Instant::now();
    let result = run(&server).env("DEPLOYER_HTTP_TIMEOUT_SECS", "0.5").run_async().await;
    planned_hub2(&result);
    assert!(started.elapsed() < Duration::from_secs(3), "did not wait for the slow answer");
    assert!(result.stdout.contains("GitHub API: 2 requests"), "{}", result.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_api_is_a_clear_error() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let result = ActionRun::new("action-generate", example_repo())
        .github(&format!("http://127.0.0.1:{port}"))
        .env("GITHUB_EVENT_NAME", "pull_request")
        .event(event())
        .temp_input("plan-dir", "plan")
        .run_async()
        .await;
    assert_eq!(result.output.status.code(), Some(1));
    assert!(
        result.stdout.contains("::error::GitHub API GET /repos/octo-org/infra/pulls/7/files: "),
        "{}",
        result.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn post_is_never_resent_after_a_server_error_but_is_after_a_rate_limit() {
    use deployer::github::{ClientConfig, GitHub, RetryPolicy};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/boom"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/limited"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/limited"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    let config = ClientConfig {
        api_url: server.uri(),
        token: Some("t".into()),
        timeout: Duration::from_secs(5),
        retry: RetryPolicy { base_delay: Duration::from_millis(10), ..RetryPolicy::default() },
    };
    let gh = GitHub::new(config).expect("client");
    let error = gh.post::<serde_json::Value>("/boom", &json!({})).await.expect_err("500");
    assert_eq!(error.to_string(), "GitHub API POST /boom: HTTP 500: no message");
    let created: serde_json::Value = gh.post("/limited", &json!({})).await.expect("created after the limit");
    assert_eq!(created["id"], 1);
    assert_eq!(gh.request_count(), 3);
}
