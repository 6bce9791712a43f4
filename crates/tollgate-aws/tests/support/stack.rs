//! A deployment shaped exactly like the reference sample's CDK app builds it, made in moto through
//! the SDK: a parent stack `unit1` (REST API `unit1_bedrock_api_gw` with `/invoke_model` and
//! `/list_foundation_models`, stage `unit1_prod`, its plan and key) and two "API Key Deployment"
//! team stacks `team1` and `team2` on the parent's API, each with its own stage (throttle in the
//! stage's method settings), usage plan (no throttle, no quota) and API key; every resource tagged
//! `Tenant=X`, `Project=SO9482` and with CloudFormation's stack tag. Then the log group with the
//! real line mix of the invoke Lambda, and the cost bucket with pandas-written reports, a legacy
//! root report and an error file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::HashMap;

use aws_sdk_apigateway::types::{ApiStage, IntegrationType};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{Days, NaiveDate};
use tollgate_aws::AwsWorkspace;

use super::moto::Moto;

pub const PREFIX: &str = "unit1";
pub const TEAMS: [&str; 3] = ["unit1", "team1", "team2"];
pub const LOG_GROUP: &str = "/aws/lambda/unit1_bedrock_invoke_model";
pub const BUCKET: &str = "unit1-bucket-cost-tracking-bedrock";
pub const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
pub const TITAN_IMAGE: &str = "amazon.titan-image-generator-v1";

/// What the fixture made, for the assertions.
pub struct Deployment {
    pub workspace: AwsWorkspace,
    /// Team stack prefix -> (key id, key value).
    pub keys: HashMap<&'static str, (String, String)>,
    /// A value that was a key once (deleted since): rows carrying it match no key.
    pub deleted_key_value: String,
    /// Days of the two `succeed/` reports (the day before yesterday and yesterday, UTC).
    pub report_days: [NaiveDate; 2],
    pub legacy_day: NaiveDate,
}

impl Deployment {
    pub fn value(&self, team: &str) -> &str {
        &self.keys[team].1
    }

    pub fn key_id(&self, team: &str) -> &str {
        &self.keys[team].0
    }

    /// Every key value the deployment's files hold, which no file of Tollgate's may.
    pub fn all_values(&self) -> Vec<String> {
        let mut values: Vec<String> = self.keys.values().map(|(_, value)| value.clone()).collect();
        values.push(self.deleted_key_value.clone());
        values
    }
}

/// Fails naming the file when any file under `dir` holds one of the deployment's key values.
pub fn assert_no_key_value_under(dir: &std::path::Path, deployment: &Deployment) {
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            for value in deployment.all_values() {
                assert!(
                    !bytes
                        .windows(value.len())
                        .any(|window| window == value.as_bytes()),
                    "{} holds a key value",
                    path.display()
                );
            }
        }
    }
}

fn tags(team: &str) -> HashMap<String, String> {
    HashMap::from([
        ("Tenant".to_owned(), team.to_owned()),
        ("Project".to_owned(), "SO9482".to_owned()),
        (
            "aws:cloudformation:stack-name".to_owned(),
            format!("{team}-bedrock-saas"),
        ),
    ])
}

/// The REST API, its two routes and one stage, plan and key per stack.
pub async fn api_gateway(moto: &Moto) -> (String, HashMap<&'static str, (String, String)>) {
    let client = aws_sdk_apigateway::Client::new(&moto.sdk_config());
    let api = client
        .create_rest_api()
        .name(format!("{PREFIX}_bedrock_api_gw"))
        .set_tags(Some(tags(PREFIX)))
        .send()
        .await
        .unwrap();
    let api_id = api.id.unwrap();
    let root = client
        .get_resources()
        .rest_api_id(&api_id)
        .send()
        .await
        .unwrap()
        .items
        .unwrap()[0]
        .id
        .clone()
        .unwrap();
    for (path, method, key_required) in [
        ("invoke_model", "POST", true),
        ("list_foundation_models", "GET", false),
    ] {
        let resource = client
            .create_resource()
            .rest_api_id(&api_id)
            .parent_id(&root)
            .path_part(path)
            .send()
            .await
            .unwrap()
            .id
            .unwrap();
        client
            .put_method()
            .rest_api_id(&api_id)
            .resource_id(&resource)
            .http_method(method)
            .authorization_type("NONE")
            .api_key_required(key_required)
            .set_request_parameters(
                key_required
                    .then(|| HashMap::from([("method.request.header.team_id".to_owned(), true)])),
            )
            .send()
            .await
            .unwrap();
        client
            .put_integration()
            .rest_api_id(&api_id)
            .resource_id(&resource)
            .http_method(method)
            .r#type(IntegrationType::AwsProxy)
            .integration_http_method("POST")
            .uri(format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:{PREFIX}_bedrock_{path}/invocations"))
            .send()
            .await
            .unwrap();
    }
    let mut keys = HashMap::new();
    for (index, team) in TEAMS.into_iter().enumerate() {
        let deployment = client
            .create_deployment()
            .rest_api_id(&api_id)
            .send()
            .await
            .unwrap()
            .id
            .unwrap();
        let stage = format!("{team}_prod");
        client
            .create_stage()
            .rest_api_id(&api_id)
            .stage_name(&stage)
            .deployment_id(&deployment)
            .set_tags(Some(tags(team)))
            .send()
            .await
            .unwrap();
        // configs.json's API_THROTTLING_RATE / API_BURST_RATE; team2's stack set its own.
        let (rate, burst) = if team == "team2" {
            ("200", "100")
        } else {
            ("10000", "5000")
        };
        client
            .update_stage()
            .rest_api_id(&api_id)
            .stage_name(&stage)
            .patch_operations(replace("/*/*/throttling/rateLimit", rate))
            .patch_operations(replace("/*/*/throttling/burstLimit", burst))
            .patch_operations(replace("/*/*/metrics/enabled", "true"))
            .send()
            .await
            .unwrap();
        let plan = client
            .create_usage_plan()
            .name(format!("{team}_api_key_plan_prod"))
            .api_stages(ApiStage::builder().api_id(&api_id).stage(&stage).build())
            .set_tags(Some(tags(team)))
            .send()
            .await
            .unwrap()
            .id
            .unwrap();
        let value = format!("{team}Zk{index}qP7vX2mN9rT4wY6bC8dF0gH3jL5sA");
        let key = client
            .create_api_key()
            // CloudFormation's generated name.
            .name(format!("{team}-{team}apikey{team}apikey-1A2B3C4D{index}"))
            .description(format!("API Key for {team}_api_key"))
            .enabled(true)
            .value(&value)
            .set_tags(Some(tags(team)))
            .send()
            .await
            .unwrap()
            .id
            .unwrap();
        client
            .create_usage_plan_key()
            .usage_plan_id(&plan)
            .key_id(&key)
            .key_type("API_KEY")
            .send()
            .await
            .unwrap();
        keys.insert(team, (key, value));
    }
    // A plan of another API, which this workspace must not show.
    let other = client
        .create_rest_api()
        .name("someone-elses-api")
        .send()
        .await
        .unwrap()
        .id
        .unwrap();
    client
        .create_usage_plan()
        .name("elsewhere")
        .api_stages(ApiStage::builder().api_id(&other).stage("prod").build())
        .send()
        .await
        .unwrap();
    (api_id, keys)
}

fn replace(path: &str, value: &str) -> aws_sdk_apigateway::types::PatchOperation {
    aws_sdk_apigateway::types::PatchOperation::builder()
        .op(aws_sdk_apigateway::types::Op::Replace)
        .path(path)
        .value(value)
        .build()
}

/// The API Gateway event as the invoke Lambda's `logger.info(event)` prints it: a Python dict.
pub fn event_dump(lambda_request: &str, team_id: &str, key_value: &str, model: &str) -> String {
    format!(
        "[INFO]\t2026-12-01T10:00:00.000Z\t{lambda_request}\t{{'resource': '/invoke_model', 'path': '/invoke_model', 'httpMethod': 'POST', 'headers': {{'Content-Type': 'application/json', 'Host': 'abc.execute-api.us-east-1.amazonaws.com', 'team_id': '{team_id}', 'x-api-key': '{key_value}'}}, 'queryStringParameters': {{'model_id': '{model}'}}, 'requestContext': {{'identity': {{'apiKey': '{key_value}', 'apiKeyId': 'hidden'}}}}, 'body': '{{\"inputs\": \"hello\"}}'}}\n"
    )
}

/// The Powertools usage line `_store_logs` writes.
pub fn usage_line(
    team_id: &str,
    key_value: &str,
    request: &str,
    model: &str,
    tokens: Option<(u64, u64)>,
    image: Option<(u32, u32)>,
) -> String {
    let number = |value: Option<u64>| value.map_or("null".to_owned(), |v| v.to_string());
    format!(
        r#"{{"level":"INFO","location":"_store_logs:169","message":{{"team_id":"{team_id}","api_key":"{key_value}","requestId":"{request}","region":"us-east-1","model_id":"{model}","inputTokens":{},"outputTokens":{},"height":{},"width":{},"steps":null}},"timestamp":"2026-12-01 10:00:00,123+0000","service":"service_undefined","xray_trace_id":"1-6748a1b0-3f1c2d4e5a6b7c8d9e0f1a2b"}}"#,
        number(tokens.map(|t| t.0)),
        number(tokens.map(|t| t.1)),
        number(image.map(|i| u64::from(i.0))),
        number(image.map(|i| u64::from(i.1))),
    )
}

/// One call as the log group holds it: START, the event dump, the handler's own lines, the usage
/// line (when the call was answered), END and REPORT.
fn call_lines(lambda_request: &str, event: &str, usage: Option<String>) -> Vec<String> {
    let mut lines = vec![
        format!("START RequestId: {lambda_request} Version: $LATEST\n"),
        event.to_owned(),
        format!("[INFO]\t2026-12-01T10:00:00.001Z\t{lambda_request}\tBedrock Endpoint\n"),
    ];
    lines.extend(usage);
    lines.push(format!("END RequestId: {lambda_request}\n"));
    lines.push(format!(
        "REPORT RequestId: {lambda_request}\tDuration: 1843.12 ms\tBilled Duration: 1844 ms\tMemory Size: 512 MB\tMax Memory Used: 131 MB\n"
    ));
    lines
}

/// What a call's usage line says: (input, output) tokens of a text model, or the (width, height) of
/// an image; `None` for a call that logs no usage line (the first poll of a long-polled call).
type LoggedUsage = (Option<(u64, u64)>, Option<(u32, u32)>);

/// Today's calls (UTC), ending at `now_ms`: team1 4 haiku calls (one under the label
/// "marketing"), team2 2 haiku calls and one 1024x1024 Titan image, unit1 1 haiku call, a
/// long-polled call of team1 logged once by the poll that fetched it, and one malformed usage
/// line. Returns the number of good usage lines.
pub async fn todays_logs(moto: &Moto, deployment: &Deployment, now_ms: i64) -> usize {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config());
    logs.create_log_stream()
        .log_group_name(LOG_GROUP)
        .log_stream_name("2026/12/03/[$LATEST]5f0c")
        .send()
        .await
        .unwrap();
    let mut lines = Vec::new();
    let mut good = 0;
    let mut call =
        |n: usize, team_id: &str, key_team: &str, model: &str, usage: Option<LoggedUsage>| {
            let request = format!("7c1e{n:04}-aaaa-bbbb-cccc-0000000000{n:02}");
            let value = deployment.value(key_team);
            let usage = usage.map(|(tokens, image)| {
                good += 1;
                usage_line(team_id, value, &format!("req-{n}"), model, tokens, image)
            });
            lines.extend(call_lines(
                &request,
                &event_dump(&request, team_id, value, model),
                usage,
            ));
        };
    for n in 0..3 {
        call(n, "team1", "team1", HAIKU, Some((Some((1000, 200)), None)));
    }
    call(
        3,
        "marketing",
        "team1",
        HAIKU,
        Some((Some((1000, 200)), None)),
    );
    for n in 4..6 {
        call(n, "team2", "team2", HAIKU, Some((Some((500, 100)), None)));
    }
    call(
        6,
        "team2",
        "team2",
        TITAN_IMAGE,
        Some((None, Some((1024, 1024)))),
    );
    call(7, "unit1", "unit1", HAIKU, Some((Some((10, 5)), None)));
    // Long polling: the first poll answers a request id and logs no usage, the second logs it.
    call(8, "team1", "team1", HAIKU, None);
    call(9, "team1", "team1", HAIKU, Some((Some((300, 700)), None)));
    // Powertools' own error line and a malformed usage line: neither counts, the second is bad.
    lines.push(r#"{"level":"ERROR","location":"bedrock_handler:350","message":"Traceback (most recent call last): ValidationException","timestamp":"2026-12-01 10:00:00,500+0000","service":"service_undefined"}"#.to_owned());
    lines.push(
        usage_line(
            "team2",
            deployment.value("team2"),
            "req-bad",
            HAIKU,
            None,
            None,
        )
        .replace(r#""inputTokens":null"#, r#""inputTokens":"lots""#),
    );
    let count = lines.len() as i64;
    let events: Vec<InputLogEvent> = lines
        .into_iter()
        .enumerate()
        .map(|(index, message)| {
            InputLogEvent::builder()
                .timestamp(now_ms - (count - index as i64) * 10)
                .message(message)
                .build()
                .unwrap()
        })
        .collect();
    logs.put_log_events()
        .log_group_name(LOG_GROUP)
        .log_stream_name("2026/12/03/[$LATEST]5f0c")
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap();
    good
}

pub const REPORT_HEADER: &str =
    "api_key,team_id,model_id,input_tokens,output_tokens,input_cost,output_cost,invocations,date\n";

/// The two `succeed/` reports as the cost Lambda's pandas writes them (float counts, float
/// repr costs, grouped by `api_key`, `team_id`, `model_id`), the legacy root report of a deployment
/// from before 2024-09-11, and an error file.
pub async fn cost_reports(moto: &Moto, deployment: &Deployment) {
    let s3 = moto.s3();
    let [first, second] = deployment.report_days;
    let (unit1, team1, team2) = (
        deployment.value("unit1"),
        deployment.value("team1"),
        deployment.value("team2"),
    );
    let deleted = &deployment.deleted_key_value;
    let put = |key: String, body: String| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket(BUCKET)
                .key(key)
                .body(ByteStream::from(body.into_bytes()))
                .send()
                .await
                .unwrap();
        }
    };
    put(
        format!("succeed/{first}.csv"),
        format!(
            "{REPORT_HEADER}\
{team1},marketing,{HAIKU},2000.0,400.0,0.0005,0.0005,2.0,{first}\n\
{team1},team1,{HAIKU},12000.0,3400.0,0.003,0.00425,4.0,{first}\n\
{team1},team1,amazon.titan-text-express-v1,1000.0,200.0,0.00019999999999999998,0.00012,1.0,{first}\n\
{team2},team2,{HAIKU},5000.0,1000.0,0.00125,0.00125,2.0,{first}\n\
{deleted},team1,{HAIKU},100.0,10.0,2.5e-05,1.25e-05,1.0,{first}\n"
        ),
    )
    .await;
    put(
        format!("succeed/{second}.csv"),
        format!(
            "{REPORT_HEADER}\
{team2},team2,{HAIKU},30000.0,9000.0,0.0075,0.01125,10.0,{second}\n\
{team2},team2,{TITAN_IMAGE},0.0,0.0,0.0,0.03,3.0,{second}\n\
{unit1},unit1,{HAIKU},40.0,20.0,1e-05,2.5e-05,1.0,{second}\n"
        ),
    )
    .await;
    put(
        format!("errors/{first}.txt"),
        format!(
            "Row:\napi_key        {team2}\nteam_id        team2\nmodel_id       mistral.unknown-v9\nName: 3, dtype: object\n\n Stacktrace:\nTraceback (most recent call last):\n  File \"/var/task/utils.py\", line 201, in calculate_cost\n    raise Exception(f\"Unknown model: {{model_id}}\")\nException: Unknown model: mistral.unknown-v9\n\n"
        ),
    )
    .await;
    let legacy = deployment.legacy_day;
    put(
        format!("{legacy}.csv"),
        format!(
            "team_id,model_id,input_tokens,output_tokens,input_cost,output_cost,invocations,date\n\
team1,anthropic.claude-v2,800.0,300.0,0.0064,0.0072,2.0,{legacy}\n\
team2,anthropic.claude-v2,100.0,50.0,0.0008,0.0012,1.0,{legacy}\n"
        ),
    )
    .await;
}

/// The whole deployment: API Gateway, the empty log group, and the bucket with its reports.
pub async fn reference_deployment(moto: &Moto) -> Deployment {
    let (api_id, keys) = api_gateway(moto).await;
    aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config())
        .create_log_group()
        .log_group_name(LOG_GROUP)
        .send()
        .await
        .unwrap();
    moto.s3()
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let today = chrono::Utc::now().date_naive();
    let mut workspace = AwsWorkspace::for_stack(PREFIX, &api_id, "us-east-1");
    workspace.endpoint_url = Some(moto.url.clone());
    let deployment = Deployment {
        workspace,
        keys,
        deleted_key_value: "deletedKeyQ4r8T2v6Y1u5I9o3P7a0S".to_owned(),
        report_days: [today - Days::new(2), today - Days::new(1)],
        legacy_day: NaiveDate::from_ymd_opt(2024, 9, 1).unwrap(),
    };
    cost_reports(moto, &deployment).await;
    deployment
}
