//! CTranslate2 Whisper -> whisper.cpp's ggml model file.
//!
//! The ggml file, little-endian: i32 magic `0x67676d6c`; eleven i32
//! hparams (n_vocab, n_audio_ctx, n_audio_state, n_audio_head,
//! n_audio_layer, n_text_ctx, n_text_state, n_text_head, n_text_layer,
//! n_mels, ftype); the mel filterbank (i32 rows, i32 columns, f32 data);
//! i32 token count and each token as i32 length + bytes; then tensors until
//! the end, each as i32 n_dims, i32 name length, i32 type (0 f32, 1 f16,
//! 8 q8_0), the dims innermost first, the name, the data.
//!
//! Every tensor is checked against whisper.cpp's own list
//! ([`super::tensors`]) as it is written, so a converted file either loads
//! or is never written. Weights in f16 are copied as they are; q8_0
//! quantises the 2-D weight matrices as whisper.cpp's quantize tool does.

use std::io::{Read, Seek, Write};

use half::{bf16, f16};

use super::{
    catalog::WeightType,
    ct2::{ConvertError, DType, Model, format_err},
    mel,
    tensors::{TensorType, hparams, layout, targets},
    vocab,
};

pub use super::tensors::Hparams;

const MAGIC: u32 = 0x6767_6d6c;
/// ggml's quantisation format version, folded into a quantised file's
/// ftype as whisper.cpp's quantize tool does (`2 * 1000 + ftype`).
const QNT_VERSION_FACTORED: i32 = 2000;
const Q8_0_BLOCK: usize = 32;
const SAMPLE_RATE: u32 = 16_000;
const N_FFT: usize = 400;

/// Writes the ggml file for `model` and returns its dimensions.
pub fn convert<R: Read + Seek>(
    model: &mut Model<R>,
    vocabulary: &str,
    weights: WeightType,
    out: &mut impl Write,
) -> Result<Hparams, ConvertError> {
    let h = hparams(model)?;
    let tokens = vocab::ggml_tokens(vocabulary)?;
    if tokens.len() > h.n_vocab {
        return Err(format_err(format!(
            "{} tokens in the vocabulary, {} in the model",
            tokens.len(),
            h.n_vocab
        )));
    }
    let ftype = match weights {
        WeightType::F16 => 1,
        WeightType::Q8_0 => QNT_VERSION_FACTORED + 7,
    };
    out.write_all(&MAGIC.to_le_bytes())?;
    for v in [
        h.n_vocab,
        h.n_audio_ctx,
        h.n_audio_state,
        h.n_audio_head,
        h.n_audio_layer,
        h.n_text_ctx,
        h.n_text_state,
        h.n_text_head,
        h.n_text_layer,
        h.n_mels,
    ] {
        write_i32(out, v)?;
    }
    out.write_all(&ftype.to_le_bytes())?;
    let filters = mel::filterbank(SAMPLE_RATE, N_FFT, h.n_mels);
    write_i32(out, h.n_mels)?;
    write_i32(out, N_FFT / 2 + 1)?;
    for f in filters {
        out.write_all(&f.to_le_bytes())?;
    }
    write_i32(out, tokens.len())?;
    for t in &tokens {
        write_i32(out, t.len())?;
        out.write_all(t)?;
    }

    let mut expected = layout(&h, weights);
    for var in model.variables.clone() {
        let names = targets(&var.name, var.shape.len())?;
        if names.is_empty() {
            continue;
        }
        let data = model.read(&var)?;
        let rows = var.shape[0] / names.len();
        if var.elements() == 0 || rows * names.len() != var.shape[0] {
            return Err(format_err(format!(
                "{}: cannot split {:?}",
                var.name, var.shape
            )));
        }
        let part_len = data.len() / names.len();
        for (name, part) in names.iter().zip(data.chunks_exact(part_len)) {
            let Some(name) = name else { continue };
            let mut dims: Vec<usize> = var.shape.iter().rev().copied().collect();
            *dims.last_mut().expect("rank > 0") = rows;
            if name.starts_with("encoder.conv") && name.ends_with(".bias") {
                dims.insert(0, 1);
            }
            let (want, ty) = expected.remove(name).ok_or_else(|| {
                format_err(format!(
                    "{name} ({}) is not a whisper.cpp tensor or is there twice",
                    var.name
                ))
            })?;
            if want != dims {
                return Err(format_err(format!(
                    "{name}: dims {dims:?}, whisper.cpp wants {want:?}"
                )));
            }
            write_tensor(out, name, &dims, ty, part, var.dtype)?;
        }
    }
    if !expected.is_empty() {
        let missing: Vec<&str> = expected.keys().map(String::as_str).collect();
        return Err(format_err(format!(
            "tensors missing: {}",
            missing.join(", ")
        )));
    }
    Ok(h)
}

fn write_i32(out: &mut impl Write, v: usize) -> Result<(), ConvertError> {
    let v = i32::try_from(v).map_err(|_| format_err(format!("{v} does not fit an i32")))?;
    Ok(out.write_all(&v.to_le_bytes())?)
}

fn write_tensor(
    out: &mut impl Write,
    name: &str,
    dims: &[usize],
    ty: TensorType,
    data: &[u8],
    dtype: DType,
) -> Result<(), ConvertError> {
    if ty == TensorType::Q8_0 && !dims[0].is_multiple_of(Q8_0_BLOCK) {
        return Err(format_err(format!(
            "{name}: rows of {} do not split into q8_0 blocks",
            dims[0]
        )));
    }
    write_i32(out, dims.len())?;
    write_i32(out, name.len())?;
    out.write_all(&(ty as i32).to_le_bytes())?;
    for d in dims {
        write_i32(out, *d)?;
    }
    out.write_all(name.as_bytes())?;
    match (dtype, ty) {
        (DType::F16, TensorType::F16) | (DType::F32, TensorType::F32) => {
            return Ok(out.write_all(data)?);
        }
        (DType::F16 | DType::F32 | DType::BF16, _) => {}
        _ => {
            return Err(format_err(format!(
                "{name}: {dtype:?} weights are not supported (quantised CTranslate2 model?)"
            )));
        }
    }
    // Converted a slice at a time: a whole embedding in f32 would be 100 MB.
    let size = dtype.size();
    let mut values = Vec::with_capacity(4096);
    let mut bytes = Vec::with_capacity(4096 * 4);
    for chunk in data.chunks(4096 * size) {
        values.clear();
        values.extend(chunk.chunks_exact(size).map(|b| match dtype {
            DType::F16 => f16::from_le_bytes([b[0], b[1]]).to_f32(),
            DType::BF16 => bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            _ => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        }));
        bytes.clear();
        match ty {
            TensorType::F32 => bytes.extend(values.iter().flat_map(|v| v.to_le_bytes())),
            TensorType::F16 => {
                bytes.extend(values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()))
            }
            TensorType::Q8_0 => values
                .chunks(Q8_0_BLOCK)
                .for_each(|b| quantize_q8_0(b, &mut bytes)),
        }
        out.write_all(&bytes)?;
    }
    Ok(())
}

/// One q8_0 block, as ggml's `quantize_row_q8_0_ref`: scale = max|x| / 127
/// (f16), then each weight divided by it and rounded half away from zero.
fn quantize_q8_0(block: &[f32], out: &mut Vec<u8>) {
    let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d == 0.0 { 0.0 } else { 1.0 / d };
    out.extend(f16::from_f32(d).to_le_bytes());
    out.extend(block.iter().map(|v| (v * id).round() as i8 as u8));
}

#[cfg(test)]
#[path = "ggml_tests.rs"]
mod tests;
