//! Bedrock in a workspace's account: the catalog (foundation models and inference profiles) and
//! application inference profiles made per tenant and model, tagged so the AWS bill splits by
//! team.

use aws_sdk_bedrock::types::{InferenceProfileModelSource, Tag};
use serde::Serialize;

use crate::error::AwsError;
use crate::tenants::{MANAGED_BY, MANAGED_BY_US};
use crate::workspace::Connection;

/// A model or inference profile Bedrock offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogEntry {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub provider: String,
    /// `foundation-model`, or the profile type (`SYSTEM_DEFINED`, `APPLICATION`).
    pub kind: String,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    pub streaming: bool,
}

/// Bedrock's profile names: letters, digits, spaces, `_`, `-`, at most 64 characters.
fn profile_name(team_id: &str, model_arn: &str) -> String {
    let model = model_arn.rsplit('/').next().unwrap_or(model_arn);
    format!("tollgate-{team_id}-{model}")
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || matches!(character, ' ' | '_' | '-') {
                character
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

impl Connection {
    /// Foundation models and every page of inference profiles.
    pub async fn bedrock_catalog(&self) -> Result<Vec<CatalogEntry>, AwsError> {
        let models = self
            .bedrock
            .list_foundation_models()
            .send()
            .await
            .map_err(|error| {
                AwsError::from_sdk(
                    "listing Bedrock's foundation models",
                    &error,
                    self.profile(),
                )
            })?;
        let modalities =
            |list: Option<&Vec<aws_sdk_bedrock::types::ModelModality>>| -> Vec<String> {
                list.map(|list| {
                    list.iter()
                        .map(|modality| modality.as_str().to_owned())
                        .collect()
                })
                .unwrap_or_default()
            };
        let mut catalog: Vec<CatalogEntry> = models
            .model_summaries
            .unwrap_or_default()
            .into_iter()
            .map(|model| CatalogEntry {
                input_modalities: modalities(model.input_modalities.as_ref()),
                output_modalities: modalities(model.output_modalities.as_ref()),
                streaming: model.response_streaming_supported.unwrap_or(false),
                name: model.model_name.unwrap_or_default(),
                provider: model.provider_name.unwrap_or_default(),
                kind: "foundation-model".to_owned(),
                id: model.model_id,
                arn: model.model_arn,
            })
            .collect();
        let mut token = None;
        loop {
            let page = self
                .bedrock
                .list_inference_profiles()
                .set_next_token(token)
                .send()
                .await
                .map_err(|error| {
                    AwsError::from_sdk(
                        "listing Bedrock's inference profiles",
                        &error,
                        self.profile(),
                    )
                })?;
            for profile in page.inference_profile_summaries.unwrap_or_default() {
                catalog.push(CatalogEntry {
                    id: profile.inference_profile_id,
                    arn: profile.inference_profile_arn,
                    name: profile.inference_profile_name,
                    provider: String::new(),
                    kind: profile.r#type.as_str().to_owned(),
                    input_modalities: Vec::new(),
                    output_modalities: Vec::new(),
                    streaming: true,
                });
            }
            token = page.next_token.filter(|next| !next.is_empty());
            if token.is_none() {
                break;
            }
        }
        Ok(catalog)
    }

    /// Creates an application inference profile for a tenant and a model (or system profile) ARN,
    /// tagged with the team, its cost center and `managed-by=tollgate`; returns its ARN, to put
    /// in the model's `tenant_profiles`.
    pub async fn create_tenant_profile(
        &self,
        team_id: &str,
        cost_center: &str,
        model_arn: &str,
    ) -> Result<String, AwsError> {
        let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
        let tags = [
            tag("team_id", team_id),
            tag("cost_center", cost_center),
            tag(MANAGED_BY, MANAGED_BY_US),
        ]
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| AwsError::new(crate::AwsErrorKind::Invalid, error.to_string()))?;
        let created = self
            .bedrock
            .create_inference_profile()
            .inference_profile_name(profile_name(team_id, model_arn))
            .description(format!("Tollgate: calls of team {team_id}"))
            .model_source(InferenceProfileModelSource::CopyFrom(model_arn.to_owned()))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|error| {
                AwsError::from_sdk(
                    &format!("creating the inference profile of team '{team_id}' for {model_arn}"),
                    &error,
                    self.profile(),
                )
            })?;
        Ok(created.inference_profile_arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_keep_to_bedrocks_characters() {
        let name = profile_name(
            "team.a",
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        );
        assert_eq!(
            name,
            "tollgate-team-a-anthropic-claude-3-haiku-20240307-v1-0"
        );
        assert!(profile_name(&"x".repeat(100), "m").len() <= 64);
    }
}
