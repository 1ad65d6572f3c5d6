//! Whisper's tokens as whisper.cpp wants them: raw bytes.
//!
//! CTranslate2's `vocabulary.txt` holds one token per line in GPT-2's
//! byte-level BPE spelling, where every byte is shown as a printable
//! character (a space is `Ġ`, a newline `Ċ`). whisper.cpp reads the
//! ordinary tokens as their bytes and names the special tokens (from
//! `<|endoftext|>` on) itself, so only the lines above that one are kept,
//! each mapped back to bytes through the inverse of `bytes_to_unicode`.

use std::collections::HashMap;

use super::ct2::{ConvertError, format_err};

const END_OF_TEXT: &str = "<|endoftext|>";

/// GPT-2's `bytes_to_unicode`, inverted: printable character -> byte.
fn unicode_to_byte() -> HashMap<char, u8> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut map = HashMap::with_capacity(256);
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let c = if printable(b) {
            char::from(b)
        } else {
            shifted += 1;
            // Bytes without a printable form take code points from U+0100 on.
            char::from_u32(255 + shifted).expect("U+0100..U+0143 are chars")
        };
        map.insert(c, b);
    }
    map
}

/// The tokens below `<|endoftext|>`, as bytes, in id order.
pub fn ggml_tokens(vocabulary: &str) -> Result<Vec<Vec<u8>>, ConvertError> {
    let decode = unicode_to_byte();
    let mut tokens = Vec::new();
    for (i, line) in vocabulary.split('\n').enumerate() {
        // No token contains a CR: byte-level BPE spells it `č`.
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line == END_OF_TEXT {
            return Ok(tokens);
        }
        let bytes = line
            .chars()
            .map(|c| decode.get(&c).copied())
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| {
                format_err(format!(
                    "vocabulary line {}: {line:?} is not byte-level BPE",
                    i + 1
                ))
            })?;
        tokens.push(bytes);
    }
    Err(format_err(format!(
        "the vocabulary has no {END_OF_TEXT} line"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_a_bijection() {
        let map = unicode_to_byte();
        assert_eq!(map.len(), 256);
        let mut bytes: Vec<u8> = map.values().copied().collect();
        bytes.sort_unstable();
        assert_eq!(bytes, (0..=255).collect::<Vec<u8>>());
        assert_eq!(map[&'Ġ'], b' ');
        assert_eq!(map[&'Ċ'], b'\n');
        assert_eq!(map[&'ĉ'], b'\t');
        assert_eq!(map[&'Ā'], 0);
        assert_eq!(map[&'ÿ'], 0xFF);
        assert_eq!(map[&'Ń'], 0xAD);
    }

    #[test]
    fn tokens_decode_to_bytes_and_stop_at_end_of_text() {
        // " the", "é" (as two bytes), "Hello", an empty line (multilingual
        // vocabularies have one), then the special tokens.
        let vocab = "ĠtheĊ\nÃ©\nHello\n\n<|endoftext|>\n<|startoftranscript|>\n";
        let tokens = ggml_tokens(vocab).unwrap();
        assert_eq!(
            tokens,
            [
                b" the\n".to_vec(),
                "é".as_bytes().to_vec(),
                b"Hello".to_vec(),
                Vec::new()
            ]
        );
        assert!(ggml_tokens("a\nb\n").is_err());
        assert!(ggml_tokens("a☃\n<|endoftext|>\n").is_err());
    }
}
