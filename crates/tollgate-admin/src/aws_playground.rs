//! The playground on an AWS workspace, through the stack: the prompt goes to the deployment's own
//! invoke URL for the team's stage with one of the team's API keys (its value read for the call
//! with `GetApiKey(includeValue)` and held in memory only), by the reference API's long polling,
//! so the team's usage plan applies and the call lands in its logs and cost report like any
//! other. Calling Bedrock directly (`AwsConsole::playground`) stays as the other route.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tollgate_aws::ReferenceClient;

use crate::aws::AwsConsole;
use crate::error::{AdminError, ErrorCode};
use crate::playground::{PlaygroundRequest, PlaygroundResult};

/// How often the reference API is asked again, and how long at most: its notebooks wait 120 s.
const POLL_EVERY: Duration = Duration::from_secs(1);
const POLL_FOR: Duration = Duration::from_mins(2);

/// The reference body for a chat model with `messages_api: true`: Converse messages in `inputs`,
/// the inference settings (and the system prompt) in `parameters`.
fn reference_body(request: &PlaygroundRequest) -> Value {
    let mut parameters = Map::new();
    if let Some(max_tokens) = request.max_tokens {
        parameters.insert("maxTokens".into(), json!(max_tokens));
    }
    if let Some(temperature) = request.temperature {
        parameters.insert("temperature".into(), json!(temperature));
    }
    if let Some(top_p) = request.top_p {
        parameters.insert("topP".into(), json!(top_p));
    }
    if !request.system.trim().is_empty() {
        parameters.insert("system".into(), json!(request.system));
    }
    json!({
        "inputs": [{"role": "user", "content": [{"text": request.prompt}]}],
        "parameters": parameters,
    })
}

impl AwsConsole {
    /// A client of the deployment as `team_id`: its stage's invoke URL and an enabled key's value.
    async fn team_client(&self, team_id: &str) -> Result<ReferenceClient, AdminError> {
        let tenant = self.connection.tenant(team_id).await?;
        let url = self.connection.workspace.invoke_url_of(&tenant.stage);
        let keys = self.connection.list_keys(&tenant.team_id).await?;
        let Some(key) = keys.iter().find(|key| key.enabled) else {
            let why = if self.budget_block(&tenant.team_id)?.is_some() {
                " (Tollgate disabled them: the team's hard budget is spent)"
            } else {
                ""
            };
            return Err(AdminError::new(
                ErrorCode::Denied,
                format!(
                    "team '{}' has no enabled API key on usage plan {}{why}: enable or create one in Tenants & keys, or send the prompt to Bedrock directly",
                    tenant.team_id, tenant.plan_name
                ),
            ));
        };
        let value = self.connection.key_value(&key.key_id).await?;
        Ok(ReferenceClient::new(&url, &value, &tenant.team_id)?)
    }

    /// The text models the stack's `/list_foundation_models` offers the team.
    pub async fn stack_models(&self, team_id: &str) -> Result<Vec<String>, AdminError> {
        let mut models: Vec<String> = self
            .team_client(team_id)
            .await?
            .list_models()
            .await?
            .into_iter()
            .filter(|model| model.output_modalities.iter().any(|kind| kind == "TEXT"))
            .map(|model| model.id)
            .collect();
        models.sort();
        models.dedup();
        Ok(models)
    }

    /// The playground through the stack as the team. The answer arrives whole (the reference API
    /// polls, it does not stream), as one piece to `on_token`; `stop` gives up waiting (the
    /// deployment still finishes and bills the call).
    pub async fn playground_through_stack(
        &self,
        team_id: &str,
        request: &PlaygroundRequest,
        stop: Arc<AtomicBool>,
        on_token: &mut (dyn FnMut(&str) + Send),
    ) -> Result<PlaygroundResult, AdminError> {
        if request.prompt.trim().is_empty() {
            return Err(AdminError::invalid("the prompt is empty"));
        }
        let client = self.team_client(team_id).await?.with_messages_api();
        let started = Instant::now();
        let body = reference_body(request);
        let mut on_poll = |_| {};
        let call = client.invoke_polling(&request.model, &body, POLL_EVERY, POLL_FOR, &mut on_poll);
        let stopped = async {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let text = tokio::select! {
            text = call => Some(text?),
            () = stopped => None,
        };
        let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Some(text) = &text {
            on_token(text);
        }
        Ok(PlaygroundResult {
            stopped: text.is_none(),
            time_to_first_token_ms: text.as_ref().map(|_| elapsed),
            text: text.unwrap_or_default(),
            latency_ms: elapsed,
            priced_by_deployment: true,
            ..PlaygroundResult::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_notebooks_messages_form() {
        let request = PlaygroundRequest {
            model: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            system: "Be brief.".into(),
            prompt: "Hi".into(),
            max_tokens: Some(50),
            temperature: Some(0.2),
            top_p: None,
        };
        assert_eq!(
            reference_body(&request),
            json!({
                "inputs": [{"role": "user", "content": [{"text": "Hi"}]}],
                "parameters": {"maxTokens": 50, "temperature": 0.2, "system": "Be brief."},
            })
        );
    }
}
