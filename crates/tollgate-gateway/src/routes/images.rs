//! Image generation through both APIs: the reference `POST /invoke_model` with `type: image`, and
//! OpenAI's `POST /v1/images/generations`. Calls are metered by image count, size and steps.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use tollgate_core::price_book::{ImageQuality, Quantities};
use tollgate_providers::{ImageRequest, ImageResponse};

use super::body::{json_object, number, whole};
use crate::call::{Call, Expected, Outcome};
use crate::config::ModelKind;
use crate::error::{ApiError, OaiError, RefError};
use crate::state::Gateway;

/// The parts of an image request both APIs share.
struct Wanted {
    prompt: String,
    negative: Option<String>,
    width: u32,
    height: u32,
    count: u32,
    steps: Option<u32>,
    cfg_scale: Option<f64>,
    seed: Option<u64>,
    quality: Option<ImageQuality>,
    extra: Map<String, Value>,
    /// The model's own body when the client sent one.
    native: Option<Value>,
}

fn text_field(
    fields: &Map<String, Value>,
    names: &[&str],
    path: &str,
) -> Result<Option<String>, ApiError> {
    for name in names {
        match fields.get(*name) {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) => return Ok(Some(text.clone())),
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "'{path}{name}' must be a string"
                )));
            }
        }
    }
    Ok(None)
}

fn first_whole(
    fields: &Map<String, Value>,
    names: &[&str],
    path: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u32>, ApiError> {
    for name in names {
        if let Some(value) = whole(fields, name, &format!("{path}{name}"), range.clone())? {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

fn quality(text: Option<String>, field: &str) -> Result<Option<ImageQuality>, ApiError> {
    text.map(|text| match text.to_ascii_lowercase().as_str() {
        "standard" => Ok(ImageQuality::Standard),
        "premium" | "hd" | "high" => Ok(ImageQuality::Premium),
        other => Err(ApiError::bad_request(format!(
            "'{field}' must be standard or premium, not '{other}'"
        ))),
    })
    .transpose()
}

async fn generate(
    gateway: &Gateway,
    headers: &HeaderMap,
    team: Option<&str>,
    model_id: &str,
    wanted: Wanted,
) -> Result<(Call, ImageResponse, tollgate_core::Nanos), ApiError> {
    let model = gateway.model(model_id).ok_or_else(|| {
        ApiError::not_found(format!(
            "model '{model_id}' is not available on this gateway"
        ))
    })?;
    if model.config.kind != ModelKind::Image {
        return Err(ApiError::bad_request(format!(
            "model '{model_id}' does not generate images"
        )));
    }
    let asked = Quantities {
        images: wanted.count,
        image_width: wanted.width,
        image_height: wanted.height,
        image_steps: wanted.steps.unwrap_or_default(),
        image_quality: wanted.quality,
        ..Quantities::default()
    };
    let call = Call::begin(gateway, headers, team, model_id, Expected::images(asked))?;
    let request = ImageRequest {
        model: model.config.upstream_model().to_owned(),
        prompt: wanted.prompt,
        negative_prompt: wanted.negative,
        width: wanted.width,
        height: wanted.height,
        count: wanted.count,
        steps: wanted.steps,
        cfg_scale: wanted.cfg_scale,
        seed: wanted.seed,
        quality: wanted.quality.map(|quality| quality.as_str().to_owned()),
        extra: wanted.extra,
        native: wanted.native,
        attribution: call.attribution(),
    };
    let quality = wanted.quality;
    let provider = std::sync::Arc::clone(&call.model.provider);
    let (call, settled) = call
        .complete(
            gateway,
            async move { provider.images(request).await },
            move |call, gateway, result| match result {
                Ok(answer) => {
                    let quantities = Quantities {
                        images: answer.images.len() as u32,
                        image_width: answer.width,
                        image_height: answer.height,
                        image_steps: answer.steps,
                        image_quality: quality,
                        ..Quantities::default()
                    };
                    let outcome = Outcome {
                        status: 200,
                        usage: answer.usage,
                        time_to_first_token: None,
                    };
                    let cost = call.meter(gateway, outcome, quantities);
                    Ok((answer, cost))
                }
                Err(error) => {
                    call.meter(
                        gateway,
                        Outcome {
                            status: error.http_status(),
                            ..Outcome::default()
                        },
                        Quantities::default(),
                    );
                    Err(ApiError::from(error))
                }
            },
        )
        .await?;
    let (answer, cost) = settled?;
    Ok((call, answer, cost))
}

/// `type: image` on the reference API: `inputs` is the prompt; `parameters` holds width, height,
/// steps, cfgScale, seed, numberOfImages, quality and negativeText. Answers `[{"images": [...]}]`.
pub async fn reference(
    gateway: &Gateway,
    headers: &HeaderMap,
    team: &str,
    model_id: &str,
    body: &Map<String, Value>,
) -> Result<Response, RefError> {
    let empty = Map::new();
    let parameters = match body.get("parameters") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(parameters)) => parameters,
        Some(_) => return Err(ApiError::bad_request("'parameters' must be an object").into()),
    };
    if let Some(wanted) = native(body, parameters)? {
        let sdxl = body.contains_key("text_prompts");
        let (call, answer, _) = generate(gateway, headers, Some(team), model_id, wanted).await?;
        // As the reference's Lambda answers: SDXL's artifacts, or Titan's images.
        let item = if sdxl && !answer.artifacts.is_empty() {
            json!({ "artifacts": answer.artifacts })
        } else {
            json!({ "images": answer.images })
        };
        let mut response = Json(json!([item])).into_response();
        call.decorate(response.headers_mut());
        return Ok(response);
    }
    let prompt = body
        .get("inputs")
        .and_then(Value::as_str)
        .filter(|prompt| !prompt.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "'inputs' must be the image prompt, a non-empty string (or send the model's own body: textToImageParams for Titan, text_prompts for Stable Diffusion XL)",
            )
        })?
        .to_owned();
    let side = 64..=4096;
    let wanted = Wanted {
        prompt,
        negative: text_field(
            parameters,
            &["negativeText", "negative_prompt"],
            "parameters.",
        )?,
        width: whole(parameters, "width", "parameters.width", side.clone())?.unwrap_or(1024),
        height: whole(parameters, "height", "parameters.height", side)?.unwrap_or(1024),
        count: first_whole(
            parameters,
            &["numberOfImages", "samples"],
            "parameters.",
            1..=5,
        )?
        .unwrap_or(1),
        steps: whole(parameters, "steps", "parameters.steps", 1..=150)?,
        cfg_scale: match number(parameters, "cfgScale", "parameters.cfgScale", 1.0, 35.0)? {
            Some(scale) => Some(scale),
            None => number(parameters, "cfg_scale", "parameters.cfg_scale", 1.0, 35.0)?,
        },
        seed: first_whole(
            parameters,
            &["seed"],
            "parameters.",
            0..=u64::from(u32::MAX),
        )?
        .map(u64::from),
        quality: quality(
            text_field(parameters, &["quality"], "parameters.")?,
            "parameters.quality",
        )?,
        native: None,
        extra: match body.get("additional_model_fields") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(fields)) => fields.clone(),
            Some(_) => {
                return Err(
                    ApiError::bad_request("'additional_model_fields' must be an object").into(),
                );
            }
        },
    };
    let (call, answer, _) = generate(gateway, headers, Some(team), model_id, wanted).await?;
    let mut response = Json(json!([{ "images": answer.images }])).into_response();
    call.decorate(response.headers_mut());
    Ok(response)
}

/// The model's own body, as the reference notebooks send it: Titan Image Generator's
/// `{"textToImageParams": {"text"}, "parameters": {"taskType", "imageGenerationConfig": {...}}}`
/// or Stable Diffusion XL's `{"text_prompts": [{"text", "weight"}], "parameters": {...}}`. The
/// reference's Lambda sends `parameters` merged with that field; so does this. What the body asks
/// for (size, count, quality, steps, with the model's own defaults) prices the call.
fn native(
    body: &Map<String, Value>,
    parameters: &Map<String, Value>,
) -> Result<Option<Wanted>, ApiError> {
    let side = 64..=4096;
    if let Some(params) = body.get("textToImageParams") {
        let prompt = params
            .get("text")
            .and_then(Value::as_str)
            .filter(|text| !text.trim().is_empty())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "'textToImageParams.text' must be the prompt, a non-empty string",
                )
            })?
            .to_owned();
        let empty = Map::new();
        let config = match parameters.get("imageGenerationConfig") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(config)) => config,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "'parameters.imageGenerationConfig' must be an object",
                ));
            }
        };
        let path = "parameters.imageGenerationConfig.";
        let mut native = parameters.clone();
        native.insert("textToImageParams".to_owned(), params.clone());
        native
            .entry("taskType")
            .or_insert_with(|| Value::from("TEXT_IMAGE"));
        return Ok(Some(Wanted {
            prompt,
            negative: text_field(
                params.as_object().unwrap_or(&empty),
                &["negativeText"],
                "textToImageParams.",
            )?,
            width: whole(config, "width", &format!("{path}width"), side.clone())?.unwrap_or(1024),
            height: whole(config, "height", &format!("{path}height"), side)?.unwrap_or(1024),
            count: whole(
                config,
                "numberOfImages",
                &format!("{path}numberOfImages"),
                1..=5,
            )?
            .unwrap_or(1),
            steps: None,
            cfg_scale: number(config, "cfgScale", &format!("{path}cfgScale"), 1.0, 10.0)?,
            seed: whole(config, "seed", &format!("{path}seed"), 0..=2_147_483_646)?.map(u64::from),
            quality: quality(
                text_field(config, &["quality"], path)?,
                &format!("{path}quality"),
            )?,
            extra: Map::new(),
            native: Some(Value::Object(native)),
        }));
    }
    if let Some(prompts) = body.get("text_prompts") {
        let list = prompts
            .as_array()
            .filter(|list| !list.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "'text_prompts' must be a non-empty list of {\"text\", \"weight\"}",
                )
            })?;
        let mut prompt = None;
        let mut negative = None;
        for (index, item) in list.iter().enumerate() {
            let text = item
                .get("text")
                .and_then(Value::as_str)
                .filter(|text| !text.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "'text_prompts[{index}].text' must be a non-empty string"
                    ))
                })?;
            let weight = match item.get("weight") {
                None | Some(Value::Null) => 1.0,
                Some(weight) => weight.as_f64().ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "'text_prompts[{index}].weight' must be a number"
                    ))
                })?,
            };
            if weight < 0.0 {
                negative.get_or_insert_with(|| text.to_owned());
            } else {
                prompt.get_or_insert_with(|| text.to_owned());
            }
        }
        let prompt = prompt.ok_or_else(|| {
            ApiError::bad_request("'text_prompts' needs a prompt of positive weight")
        })?;
        let mut native = parameters.clone();
        native.insert("text_prompts".to_owned(), prompts.clone());
        return Ok(Some(Wanted {
            prompt,
            negative,
            width: whole(parameters, "width", "parameters.width", side.clone())?.unwrap_or(1024),
            height: whole(parameters, "height", "parameters.height", side)?.unwrap_or(1024),
            count: whole(parameters, "samples", "parameters.samples", 1..=1)?.unwrap_or(1),
            // Bedrock's Stable Diffusion XL takes 30 steps when none are asked for.
            steps: Some(whole(parameters, "steps", "parameters.steps", 10..=150)?.unwrap_or(30)),
            cfg_scale: number(parameters, "cfg_scale", "parameters.cfg_scale", 0.0, 35.0)?,
            seed: whole(parameters, "seed", "parameters.seed", 0..=4_294_967_295)?.map(u64::from),
            quality: None,
            extra: Map::new(),
            native: Some(Value::Object(native)),
        }));
    }
    Ok(None)
}

/// `POST /v1/images/generations`, OpenAI's images API with `b64_json` answers.
pub async fn openai(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OaiError> {
    let body = json_object(body)?;
    let model_id = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|model| !model.is_empty())
        .ok_or_else(|| ApiError::bad_request("'model' is required"))?
        .to_owned();
    let prompt = text_field(&body, &["prompt"], "")?
        .filter(|prompt| !prompt.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("'prompt' is required"))?;
    match body.get("response_format").and_then(Value::as_str) {
        None | Some("b64_json") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "'response_format' {other} is not supported: this gateway answers b64_json"
            ))
            .into());
        }
    }
    let (width, height) = match text_field(&body, &["size"], "")? {
        None => (1024, 1024),
        Some(size) => size
            .split_once('x')
            .and_then(|(width, height)| Some((width.parse().ok()?, height.parse().ok()?)))
            .filter(|(width, height): &(u32, u32)| {
                (64..=4096).contains(width) && (64..=4096).contains(height)
            })
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "'size' must be WIDTHxHEIGHT, like 1024x1024, not '{size}'"
                ))
            })?,
    };
    let wanted = Wanted {
        prompt,
        negative: None,
        width,
        height,
        count: whole(&body, "n", "n", 1..=5)?.unwrap_or(1),
        steps: None,
        cfg_scale: None,
        seed: None,
        quality: quality(text_field(&body, &["quality"], "")?, "quality")?,
        extra: Map::new(),
        native: None,
    };
    let (call, answer, cost) = generate(&gateway, &headers, None, &model_id, wanted)
        .await
        .map_err(super::openai::unauthorized)?;
    let data: Vec<Value> = answer
        .images
        .into_iter()
        .map(|image| json!({ "b64_json": image }))
        .collect();
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let mut response = Json(json!({
        "created": created,
        "data": data,
        "usage": { "images": data.len(), "cost_usd": cost.to_decimal_string() },
    }))
    .into_response();
    call.decorate(response.headers_mut());
    Ok(response)
}
