//! The InvokeModel bodies of Bedrock's embedding and image models, and the token counts Bedrock
//! returns in response headers rather than in the body.

use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_bedrockruntime::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};
use serde_json::{Map, Value, json};

use crate::{ImageRequest, ProviderError};

/// The request-body family a model id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmbeddingFamily {
    /// `amazon.titan-embed-text-*` and `amazon.titan-embed-image-*`: one input per call.
    Titan,
    /// `cohere.embed-*`: a batch of texts per call.
    Cohere,
}

impl EmbeddingFamily {
    pub fn of(model: &str) -> EmbeddingFamily {
        if model.contains("cohere.embed") {
            EmbeddingFamily::Cohere
        } else {
            EmbeddingFamily::Titan
        }
    }
}

pub(crate) fn titan_embedding_body(
    text: Option<&str>,
    image: Option<&str>,
    parameters: &Map<String, Value>,
) -> Value {
    let mut body = parameters.clone();
    if let Some(text) = text {
        body.insert("inputText".to_owned(), Value::from(text));
    }
    if let Some(image) = image {
        body.insert("inputImage".to_owned(), Value::from(image));
    }
    Value::Object(body)
}

/// Cohere's body: `input_type` is required, and `search_document` is what the reference's
/// Lambda sends when the client names none. OpenAI's `dimensions` is Cohere's `output_dimension`.
pub(crate) fn cohere_embedding_body(texts: &[String], parameters: &Map<String, Value>) -> Value {
    let mut body = parameters.clone();
    if let Some(dimensions) = body.remove("dimensions") {
        body.entry("output_dimension").or_insert(dimensions);
    }
    body.entry("input_type")
        .or_insert_with(|| Value::from("search_document"));
    body.insert("texts".to_owned(), json!(texts));
    Value::Object(body)
}

/// The vectors in an embedding answer: Titan's `embedding`, Cohere's `embeddings` (a list, or
/// `{"float": [...]}` when embedding types were asked for).
pub(crate) fn embeddings_in(body: &Value) -> Result<Vec<Vec<f64>>, ProviderError> {
    let vector = |value: &Value| -> Option<Vec<f64>> {
        value.as_array()?.iter().map(Value::as_f64).collect()
    };
    if let Some(single) = body.get("embedding") {
        return vector(single).map(|vector| vec![vector]).ok_or_else(|| {
            ProviderError::Protocol("'embedding' is not a list of numbers".to_owned())
        });
    }
    let many = body
        .get("embeddings")
        .map(|value| value.get("float").unwrap_or(value))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ProviderError::Protocol("the answer has no 'embedding' or 'embeddings'".to_owned())
        })?;
    many.iter()
        .map(|item| {
            vector(item).ok_or_else(|| {
                ProviderError::Protocol("an embedding is not a list of numbers".to_owned())
            })
        })
        .collect()
}

/// The request-body family of an image model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageFamily {
    /// Titan Image Generator and Nova Canvas: `taskType` + `imageGenerationConfig`.
    Titan,
    /// Stable Diffusion XL: `text_prompts`, `steps`, `artifacts` back.
    StabilityXl,
    /// Stable Image Core/Ultra and SD3: `prompt`, `aspect_ratio`, `images` back.
    StabilityImage,
}

impl ImageFamily {
    pub fn of(model: &str) -> ImageFamily {
        if model.contains("stable-diffusion-xl") {
            ImageFamily::StabilityXl
        } else if model.contains("stability.") {
            ImageFamily::StabilityImage
        } else {
            ImageFamily::Titan
        }
    }

    /// Whether the model takes a number of diffusion steps (and so is priced by them).
    pub fn takes_steps(self) -> bool {
        self == ImageFamily::StabilityXl
    }
}

pub(crate) fn image_body(family: ImageFamily, request: &ImageRequest) -> Value {
    let count = request.count.max(1);
    let mut body = match family {
        ImageFamily::Titan => {
            let mut text = json!({ "text": request.prompt });
            if let Some(negative) = &request.negative_prompt {
                text["negativeText"] = Value::from(negative.as_str());
            }
            let mut config = json!({
                "numberOfImages": count,
                "width": request.width,
                "height": request.height,
            });
            if let Some(scale) = request.cfg_scale {
                config["cfgScale"] = Value::from(scale);
            }
            if let Some(seed) = request.seed {
                config["seed"] = Value::from(seed);
            }
            if let Some(quality) = &request.quality {
                config["quality"] = Value::from(quality.as_str());
            }
            json!({
                "taskType": "TEXT_IMAGE",
                "textToImageParams": text,
                "imageGenerationConfig": config,
            })
        }
        ImageFamily::StabilityXl => {
            let mut prompts = vec![json!({ "text": request.prompt, "weight": 1.0 })];
            if let Some(negative) = &request.negative_prompt {
                prompts.push(json!({ "text": negative, "weight": -1.0 }));
            }
            let mut body = json!({
                "text_prompts": prompts,
                "width": request.width,
                "height": request.height,
                "samples": count,
                "steps": request.steps.unwrap_or(30),
            });
            if let Some(scale) = request.cfg_scale {
                body["cfg_scale"] = Value::from(scale);
            }
            if let Some(seed) = request.seed {
                body["seed"] = Value::from(seed);
            }
            body
        }
        ImageFamily::StabilityImage => {
            let mut body = json!({
                "prompt": request.prompt,
                "aspect_ratio": aspect_ratio(request.width, request.height),
                "output_format": "png",
            });
            if let Some(negative) = &request.negative_prompt {
                body["negative_prompt"] = Value::from(negative.as_str());
            }
            if let Some(seed) = request.seed {
                body["seed"] = Value::from(seed);
            }
            body
        }
    };
    if let Value::Object(fields) = &mut body {
        for (key, value) in &request.extra {
            fields.insert(key.clone(), value.clone());
        }
    }
    body
}

/// The nearest of the aspect ratios Stability's image models accept.
fn aspect_ratio(width: u32, height: u32) -> &'static str {
    const RATIOS: [(&str, f64); 9] = [
        ("21:9", 21.0 / 9.0),
        ("16:9", 16.0 / 9.0),
        ("3:2", 1.5),
        ("5:4", 1.25),
        ("1:1", 1.0),
        ("4:5", 0.8),
        ("2:3", 2.0 / 3.0),
        ("9:16", 9.0 / 16.0),
        ("9:21", 9.0 / 21.0),
    ];
    let wanted = f64::from(width.max(1)) / f64::from(height.max(1));
    RATIOS
        .iter()
        .min_by(|a, b| (a.1 - wanted).abs().total_cmp(&(b.1 - wanted).abs()))
        .map_or("1:1", |ratio| ratio.0)
}

/// The base64 images in an image answer, or the model's own error.
pub(crate) fn images_in(family: ImageFamily, body: &Value) -> Result<Vec<String>, ProviderError> {
    if let Some(error) = body.get("error").and_then(Value::as_str) {
        return Err(ProviderError::BadRequest(error.to_owned()));
    }
    let strings = |items: &Vec<Value>, field: Option<&str>| -> Vec<String> {
        items
            .iter()
            .filter_map(|item| match field {
                Some(field) => item.get(field).and_then(Value::as_str),
                None => item.as_str(),
            })
            .map(str::to_owned)
            .collect()
    };
    let images = match family {
        ImageFamily::StabilityXl => body
            .get("artifacts")
            .and_then(Value::as_array)
            .map(|items| strings(items, Some("base64"))),
        ImageFamily::Titan | ImageFamily::StabilityImage => body
            .get("images")
            .and_then(Value::as_array)
            .map(|items| strings(items, None)),
    };
    match images {
        Some(images) if !images.is_empty() => Ok(images),
        _ => Err(ProviderError::Protocol(
            "the image model answered without images".to_owned(),
        )),
    }
}

/// Token counts from `X-Amzn-Bedrock-Input-Token-Count` / `-Output-Token-Count`, which the SDK's
/// InvokeModel output does not expose; read off the raw response as it arrives.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenCountHeaders {
    counts: Arc<Mutex<(Option<u64>, Option<u64>)>>,
}

impl TokenCountHeaders {
    /// Input and output tokens, when Bedrock sent them.
    pub fn counts(&self) -> (Option<u64>, Option<u64>) {
        *self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Intercept for TokenCountHeaders {
    fn name(&self) -> &'static str {
        "TokenCountHeaders"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let headers = context.response().headers();
        let count = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.trim().parse().ok())
        };
        *self.counts.lock().unwrap_or_else(PoisonError::into_inner) = (
            count("x-amzn-bedrock-input-token-count"),
            count("x-amzn-bedrock-output-token-count"),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_the_model_id() {
        assert_eq!(
            EmbeddingFamily::of("cohere.embed-english-v3"),
            EmbeddingFamily::Cohere
        );
        assert_eq!(
            EmbeddingFamily::of("amazon.titan-embed-text-v2:0"),
            EmbeddingFamily::Titan
        );
        assert_eq!(
            ImageFamily::of("stability.stable-diffusion-xl-v1"),
            ImageFamily::StabilityXl
        );
        assert_eq!(
            ImageFamily::of("stability.sd3-large-v1:0"),
            ImageFamily::StabilityImage
        );
        assert_eq!(
            ImageFamily::of("amazon.nova-canvas-v1:0"),
            ImageFamily::Titan
        );
    }

    #[test]
    fn image_bodies_carry_size_count_and_steps() {
        let request = ImageRequest {
            model: "amazon.titan-image-generator-v2:0".to_owned(),
            prompt: "a lighthouse".to_owned(),
            negative_prompt: Some("fog".to_owned()),
            width: 1024,
            height: 576,
            count: 2,
            steps: Some(50),
            seed: Some(7),
            ..ImageRequest::default()
        };
        let titan = image_body(ImageFamily::Titan, &request);
        assert_eq!(titan["imageGenerationConfig"]["numberOfImages"], 2);
        assert_eq!(titan["textToImageParams"]["negativeText"], "fog");
        let xl = image_body(ImageFamily::StabilityXl, &request);
        assert_eq!(xl["steps"], 50);
        assert_eq!(xl["text_prompts"][1]["weight"], -1.0);
        let core = image_body(ImageFamily::StabilityImage, &request);
        assert_eq!(core["aspect_ratio"], "16:9");
    }

    #[test]
    fn answers_are_read_per_family() {
        let titan = json!({"images": ["aGk="], "error": null});
        assert_eq!(images_in(ImageFamily::Titan, &titan).unwrap(), ["aGk="]);
        let xl = json!({"result": "success", "artifacts": [{"base64": "eA==", "finishReason": "SUCCESS"}]});
        assert_eq!(images_in(ImageFamily::StabilityXl, &xl).unwrap(), ["eA=="]);
        let refused = json!({"images": [], "error": "prompt blocked by content filters"});
        assert!(matches!(
            images_in(ImageFamily::Titan, &refused),
            Err(ProviderError::BadRequest(_))
        ));
        let cohere = json!({"embeddings": {"float": [[0.5, -1.0]]}});
        assert_eq!(embeddings_in(&cohere).unwrap(), vec![vec![0.5, -1.0]]);
    }
}
