//! The byte-level BPE tokenizer of a GGUF model, rebuilt from its metadata alone (vocabulary,
//! merges, token types): no tokenizer.json needed. Pre-tokenization follows the GPT-2 pattern with
//! digits split one by one, as SmolLM2's tokenizer does.

use std::collections::HashMap;
use std::sync::Mutex;

/// Why a tokenizer could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenizerError {
    #[error("the model file has no '{0}' metadata")]
    Missing(&'static str),
    #[error("the model's tokenizer is '{0}'; only byte-level BPE ('gpt2') is supported")]
    Unsupported(String),
}

/// GGUF token type of control tokens (`<|im_start|>`, ...).
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// GPT-2's reversible map from bytes to printable characters.
fn byte_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for byte in 0..=255u8 {
        let printable = matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        table[byte as usize] = if printable {
            char::from(byte)
        } else {
            let mapped = char::from_u32(next).unwrap_or('?');
            next += 1;
            mapped
        };
    }
    table
}

#[derive(Debug)]
pub struct Tokenizer {
    vocab: HashMap<String, u32>,
    tokens: Vec<String>,
    special: Vec<(String, u32)>,
    is_control: Vec<bool>,
    merges: HashMap<(String, String), u32>,
    to_char: [char; 256],
    to_byte: HashMap<char, u8>,
    cache: Mutex<HashMap<String, Vec<u32>>>,
    pub eos: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Number,
    Other,
    Space,
}

fn class(character: char) -> Class {
    if character.is_whitespace() {
        Class::Space
    } else if character.is_alphabetic() {
        Class::Letter
    } else if character.is_numeric() {
        Class::Number
    } else {
        Class::Other
    }
}

/// GPT-2's pre-tokenizer: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
fn gpt2_pieces(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |index: usize| chars.get(index).map_or(text.len(), |&(offset, _)| offset);
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        // Contractions.
        if c == '\'' {
            let rest = &text[at(i) + 1..];
            let length = ["s", "t", "m", "d"]
                .iter()
                .find(|suffix| rest.starts_with(**suffix))
                .map(|_| 1)
                .or_else(|| {
                    ["re", "ve", "ll"]
                        .iter()
                        .find(|suffix| rest.starts_with(**suffix))
                        .map(|_| 2)
                });
            if let Some(length) = length {
                pieces.push(&text[at(i)..at(i + 1 + length)]);
                i += 1 + length;
                continue;
            }
        }
        // An optional single space, then a run of one class.
        let (start, first) =
            if c == ' ' && i + 1 < chars.len() && class(chars[i + 1].1) != Class::Space {
                (i, i + 1)
            } else {
                (i, i)
            };
        let kind = class(chars[first].1);
        if kind != Class::Space {
            let mut end = first + 1;
            while end < chars.len() && class(chars[end].1) == kind {
                end += 1;
            }
            pieces.push(&text[at(start)..at(end)]);
            i = end;
            continue;
        }
        // Whitespace: a run not followed by non-space, else all but its last character.
        let mut end = i + 1;
        while end < chars.len() && class(chars[end].1) == Class::Space {
            end += 1;
        }
        if end < chars.len() && end - i > 1 {
            end -= 1;
        }
        pieces.push(&text[at(i)..at(end)]);
        i = end;
    }
    pieces
}

impl Tokenizer {
    /// Builds the tokenizer from GGUF metadata values.
    pub fn new(
        model: &str,
        tokens: Vec<String>,
        token_types: &[i32],
        merges: &[String],
        eos: u32,
    ) -> Result<Tokenizer, TokenizerError> {
        if model != "gpt2" {
            return Err(TokenizerError::Unsupported(model.to_owned()));
        }
        let vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.clone(), id as u32))
            .collect();
        let is_control: Vec<bool> = (0..tokens.len())
            .map(|id| token_types.get(id).copied() == Some(CONTROL))
            .collect();
        let mut special: Vec<(String, u32)> = tokens
            .iter()
            .enumerate()
            .filter(|(id, _)| matches!(token_types.get(*id).copied(), Some(CONTROL | USER_DEFINED)))
            .map(|(id, token)| (token.clone(), id as u32))
            .collect();
        // Longest first, so the longest special token wins where several start at one place.
        special.sort_by_key(|(token, _)| std::cmp::Reverse(token.len()));
        let merges = merges
            .iter()
            .enumerate()
            .filter_map(|(rank, merge)| {
                merge
                    .split_once(' ')
                    .map(|(a, b)| ((a.to_owned(), b.to_owned()), rank as u32))
            })
            .collect();
        let to_char = byte_chars();
        let to_byte = to_char
            .iter()
            .enumerate()
            .map(|(byte, &character)| (character, byte as u8))
            .collect();
        Ok(Tokenizer {
            vocab,
            tokens,
            special,
            is_control,
            merges,
            to_char,
            to_byte,
            cache: Mutex::new(HashMap::new()),
            eos,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// Token ids for `text`; special tokens written in the text (`<|im_start|>`) become their ids.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            // The next special token, if any, splits the text.
            let next = self
                .special
                .iter()
                .filter_map(|(token, id)| {
                    rest.find(token.as_str()).map(|at| (at, token.len(), *id))
                })
                .min_by_key(|&(at, length, _)| (at, std::cmp::Reverse(length)));
            let (plain, after) = match next {
                Some((at, length, id)) => {
                    let plain = &rest[..at];
                    self.encode_plain(plain, &mut ids);
                    ids.push(id);
                    (None, &rest[at + length..])
                }
                None => (Some(rest), ""),
            };
            if let Some(plain) = plain {
                self.encode_plain(plain, &mut ids);
            }
            rest = after;
        }
        ids
    }

    fn encode_plain(&self, text: &str, ids: &mut Vec<u32>) {
        // Digits one by one, then GPT-2 pieces within what lies between them.
        let mut start = 0;
        for (offset, character) in text.char_indices() {
            if character.is_numeric() {
                for piece in gpt2_pieces(&text[start..offset]) {
                    self.encode_piece(piece, ids);
                }
                self.encode_piece(&text[offset..offset + character.len_utf8()], ids);
                start = offset + character.len_utf8();
            }
        }
        for piece in gpt2_pieces(&text[start..]) {
            self.encode_piece(piece, ids);
        }
    }

    fn encode_piece(&self, piece: &str, ids: &mut Vec<u32>) {
        if piece.is_empty() {
            return;
        }
        if let Some(cached) = self
            .cache
            .lock()
            .ok()
            .and_then(|cache| cache.get(piece).cloned())
        {
            ids.extend(cached);
            return;
        }
        let mut symbols: Vec<String> = piece
            .bytes()
            .map(|byte| self.to_char[byte as usize].to_string())
            .collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(index, pair)| {
                    self.merges
                        .get(&(pair[0].clone(), pair[1].clone()))
                        .map(|rank| (*rank, index))
                })
                .min();
            let Some((_, index)) = best else { break };
            let merged = format!("{}{}", symbols[index], symbols[index + 1]);
            symbols.splice(index..index + 2, [merged]);
        }
        let piece_ids: Vec<u32> = symbols
            .iter()
            .flat_map(|symbol| match self.vocab.get(symbol) {
                Some(&id) => vec![id],
                // Not in the vocabulary as a whole: fall back to its single byte characters.
                None => symbol
                    .chars()
                    .filter_map(|character| self.vocab.get(&character.to_string()).copied())
                    .collect(),
            })
            .collect();
        if let Ok(mut cache) = self.cache.lock()
            && cache.len() < 100_000
        {
            cache.insert(piece.to_owned(), piece_ids.clone());
        }
        ids.extend(piece_ids);
    }

    /// The bytes a token stands for; control tokens stand for nothing.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let id = id as usize;
        if self.is_control.get(id).copied().unwrap_or(true) {
            return Vec::new();
        }
        self.tokens.get(id).map_or_else(Vec::new, |token| {
            token
                .chars()
                .filter_map(|character| self.to_byte.get(&character).copied())
                .collect()
        })
    }

    /// Text for a run of tokens (invalid UTF-8 replaced).
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_pre_tokenization() {
        assert_eq!(gpt2_pieces("Hello world"), ["Hello", " world"]);
        // A whitespace run before a word leaves its last character as a piece of its own, as
        // `\s+(?!\S)` then `\s+` do.
        assert_eq!(
            gpt2_pieces("it's  fine!\n\nok"),
            ["it", "'s", " ", " fine", "!", "\n", "\n", "ok"]
        );
        assert_eq!(gpt2_pieces("a   b"), ["a", "  ", " b"]);
        assert_eq!(gpt2_pieces("end  "), ["end", "  "]);
        assert_eq!(gpt2_pieces(" ,x"), [" ,", "x"]);
    }

    #[test]
    fn byte_map_is_a_bijection() {
        let table = byte_chars();
        let unique: std::collections::HashSet<char> = table.iter().copied().collect();
        assert_eq!(unique.len(), 256);
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[b'\n' as usize], 'Ċ');
    }
}
