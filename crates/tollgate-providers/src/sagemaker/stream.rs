//! Streamed answers: SageMaker cuts the container's byte stream into `PayloadPart`s wherever it
//! likes, so a JSON line (or an SSE `data:` line) can span parts; this buffers to whole lines.

use serde_json::Value;

use super::payload::PayloadFormat;

/// Joins payload parts into complete lines: SSE `data:` lines (TGI, messages API) and bare JSON
/// lines (JumpStart's LMI containers) alike.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    /// Feeds one part; returns the payload of every line it completes.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(end) = self.pending.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            lines.extend(payload_of(&line));
        }
        lines
    }

    /// A last line the stream left without a newline.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.pending);
        payload_of(&rest)
    }
}

fn payload_of(line: &[u8]) -> Option<String> {
    let line = String::from_utf8_lossy(line);
    let line = line.trim();
    if line.is_empty() || line.starts_with(':') || line.starts_with("event:") {
        return None;
    }
    let payload = line.strip_prefix("data:").map_or(line, str::trim_start);
    (!payload.is_empty()).then(|| payload.to_owned())
}

/// What one streamed line says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Piece {
    pub text: String,
    pub finish_reason: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// The container reported an error in the stream.
    pub error: Option<String>,
}

pub(crate) fn piece(format: PayloadFormat, line: &str) -> Option<Piece> {
    if line == "[DONE]" {
        return None;
    }
    let Ok(value) = serde_json::from_str::<Value>(line) else {
        return Some(Piece {
            error: Some(format!(
                "the endpoint streamed a line that is not JSON: {line}"
            )),
            ..Piece::default()
        });
    };
    if let Some(error) = value.get("error") {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| error.as_str())
            .unwrap_or("the container reported an error")
            .to_owned();
        return Some(Piece {
            error: Some(message),
            ..Piece::default()
        });
    }
    match format {
        PayloadFormat::Tgi => {
            // Special tokens (`</s>`, `<|eot_id|>`) end the answer; they are not part of it.
            let special = value
                .pointer("/token/special")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let text = if special {
                String::new()
            } else {
                value
                    .pointer("/token/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let details = value.get("details").filter(|details| !details.is_null());
            Some(Piece {
                text,
                finish_reason: details
                    .and_then(|details| details.get("finish_reason"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                output_tokens: details
                    .and_then(|details| details.get("generated_tokens"))
                    .and_then(Value::as_u64),
                ..Piece::default()
            })
        }
        PayloadFormat::Messages => Some(Piece {
            text: value
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            finish_reason: value
                .pointer("/choices/0/finish_reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
            input_tokens: value
                .pointer("/usage/prompt_tokens")
                .and_then(Value::as_u64),
            output_tokens: value
                .pointer("/usage/completion_tokens")
                .and_then(Value::as_u64),
            error: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_survive_any_split_into_parts() {
        let stream = concat!(
            "data:{\"token\":{\"text\":\"Hel\",\"special\":false},\"details\":null}\n\n",
            "data:{\"token\":{\"text\":\"lo ✓\",\"special\":false},\"details\":null}\n\n",
            "data:{\"token\":{\"text\":\"</s>\",\"special\":true},\"generated_text\":\"Hello ✓\",",
            "\"details\":{\"finish_reason\":\"eos_token\",\"generated_tokens\":3}}\n\n"
        )
        .as_bytes();
        for split in 1..stream.len() {
            let mut buffer = LineBuffer::default();
            let mut lines = buffer.push(&stream[..split]);
            lines.extend(buffer.push(&stream[split..]));
            lines.extend(buffer.finish());
            let pieces: Vec<Piece> = lines
                .iter()
                .filter_map(|line| piece(PayloadFormat::Tgi, line))
                .collect();
            let text: String = pieces.iter().map(|piece| piece.text.as_str()).collect();
            assert_eq!(text, "Hello ✓", "split at {split}");
            let last = pieces.last().unwrap();
            assert_eq!(last.output_tokens, Some(3));
            assert_eq!(last.finish_reason.as_deref(), Some("eos_token"));
        }
    }

    #[test]
    fn bare_json_lines_and_errors() {
        let mut buffer = LineBuffer::default();
        let lines =
            buffer.push(b"{\"token\": {\"text\": \"a\"}}\n{\"error\": \"CUDA out of memory\"}");
        assert_eq!(lines.len(), 1);
        let last = buffer.finish().unwrap();
        assert_eq!(
            piece(PayloadFormat::Tgi, &last).unwrap().error.as_deref(),
            Some("CUDA out of memory")
        );
        let usage = "{\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}";
        let usage = piece(PayloadFormat::Messages, usage).unwrap();
        assert_eq!(
            (usage.input_tokens, usage.output_tokens),
            (Some(5), Some(2))
        );
        assert_eq!(piece(PayloadFormat::Messages, "[DONE]"), None);
    }
}
