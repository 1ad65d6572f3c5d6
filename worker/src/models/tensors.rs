//! Whisper's tensors on both sides of the conversion: the model's
//! dimensions, the exact tensor list whisper.cpp's loader allocates, and
//! which OpenAI tensor each CTranslate2 variable becomes.
//!
//! whisper.cpp accepts exactly the tensors it allocates, with the same
//! shape and type, none missing and none extra. [`layout`] is that list,
//! written after `whisper_model_load`.
//!
//! CTranslate2 keeps PyTorch's layout ([out, in] row-major), so weights
//! are renamed, not transposed. Its fused projections are split by rows:
//! self-attention `linear_0` into query, key, value; cross-attention
//! `linear_1` into key, value. The key bias is dropped (whisper has none:
//! it adds the same amount to every score of a query, which softmax
//! ignores). The output projection is an alias of the token embedding and
//! whisper.cpp ties them too.

use std::{
    collections::BTreeMap,
    io::{Read, Seek},
};

use super::{
    catalog::WeightType,
    ct2::{ConvertError, Model, format_err},
};

/// Model dimensions, as whisper.cpp's header lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    pub n_vocab: usize,
    pub n_audio_ctx: usize,
    pub n_audio_state: usize,
    pub n_audio_head: usize,
    pub n_audio_layer: usize,
    pub n_text_ctx: usize,
    pub n_text_state: usize,
    pub n_text_head: usize,
    pub n_text_layer: usize,
    pub n_mels: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TensorType {
    F32 = 0,
    F16 = 1,
    Q8_0 = 8,
}

/// Reads the dimensions from the variables' shapes and the head counts.
pub fn hparams<R: Read + Seek>(model: &mut Model<R>) -> Result<Hparams, ConvertError> {
    let shape = |name: &str, rank: usize| -> Result<Vec<usize>, ConvertError> {
        let var = model
            .variable(name)
            .ok_or_else(|| format_err(format!("{name} is missing: not a Whisper model?")))?;
        if var.shape.len() != rank {
            return Err(format_err(format!("{name} has shape {:?}", var.shape)));
        }
        Ok(var.shape.clone())
    };
    let embeddings = shape("decoder/embeddings/weight", 2)?;
    let audio_pos = shape("encoder/position_encodings/encodings", 2)?;
    let text_pos = shape("decoder/position_encodings/encodings", 2)?;
    let conv1 = shape("encoder/conv1/weight", 3)?;
    let layers = |side: &str| {
        let prefix = format!("{side}/layer_");
        model
            .variables
            .iter()
            .filter_map(|v| {
                v.name
                    .strip_prefix(&prefix)?
                    .split('/')
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .max()
            .map_or(0, |last| last + 1)
    };
    let (n_audio_layer, n_text_layer) = (layers("encoder"), layers("decoder"));
    let head = |model: &mut Model<R>, name: &str| -> Result<usize, ConvertError> {
        usize::try_from(model.scalar_int(name)?)
            .map_err(|_| format_err(format!("{name} is negative")))
    };
    Ok(Hparams {
        n_vocab: embeddings[0],
        n_audio_ctx: audio_pos[0],
        n_audio_state: audio_pos[1],
        n_audio_head: head(model, "encoder/num_heads")?,
        n_audio_layer,
        n_text_ctx: text_pos[0],
        n_text_state: embeddings[1],
        n_text_head: head(model, "decoder/num_heads")?,
        n_text_layer,
        n_mels: conv1[1],
    })
}

/// Every tensor whisper.cpp allocates for these dimensions: name -> (dims
/// innermost first, type). Mirrors `whisper_model_load`: 1-D tensors, conv
/// biases and positional embeddings are f32, conv kernels f16, the other
/// matrices the file's weight type.
pub(super) fn layout(
    h: &Hparams,
    weights: WeightType,
) -> BTreeMap<String, (Vec<usize>, TensorType)> {
    use TensorType::{F16, F32};
    let w = match weights {
        WeightType::F16 => F16,
        WeightType::Q8_0 => TensorType::Q8_0,
    };
    let mut map = BTreeMap::new();
    let mut add = |name: String, dims: &[usize], ty| {
        map.insert(name, (dims.to_vec(), ty));
    };
    let (a, t) = (h.n_audio_state, h.n_text_state);
    add(
        "encoder.positional_embedding".into(),
        &[a, h.n_audio_ctx],
        F32,
    );
    add("encoder.conv1.weight".into(), &[3, h.n_mels, a], F16);
    add("encoder.conv1.bias".into(), &[1, a], F32);
    add("encoder.conv2.weight".into(), &[3, a, a], F16);
    add("encoder.conv2.bias".into(), &[1, a], F32);
    add("encoder.ln_post.weight".into(), &[a], F32);
    add("encoder.ln_post.bias".into(), &[a], F32);
    add(
        "decoder.positional_embedding".into(),
        &[t, h.n_text_ctx],
        F32,
    );
    add("decoder.token_embedding.weight".into(), &[t, h.n_vocab], w);
    add("decoder.ln.weight".into(), &[t], F32);
    add("decoder.ln.bias".into(), &[t], F32);
    let mut block = |prefix: String, s: usize, cross: bool| {
        for ln in ["mlp_ln", "attn_ln"]
            .iter()
            .chain(cross.then_some(&"cross_attn_ln"))
        {
            add(format!("{prefix}.{ln}.weight"), &[s], F32);
            add(format!("{prefix}.{ln}.bias"), &[s], F32);
        }
        add(format!("{prefix}.mlp.0.weight"), &[s, 4 * s], w);
        add(format!("{prefix}.mlp.0.bias"), &[4 * s], F32);
        add(format!("{prefix}.mlp.2.weight"), &[4 * s, s], w);
        add(format!("{prefix}.mlp.2.bias"), &[s], F32);
        for attn in ["attn"].iter().chain(cross.then_some(&"cross_attn")) {
            for proj in ["query", "key", "value", "out"] {
                add(format!("{prefix}.{attn}.{proj}.weight"), &[s, s], w);
                if proj != "key" {
                    add(format!("{prefix}.{attn}.{proj}.bias"), &[s], F32);
                }
            }
        }
    };
    for i in 0..h.n_audio_layer {
        block(format!("encoder.blocks.{i}"), a, false);
    }
    for i in 0..h.n_text_layer {
        block(format!("decoder.blocks.{i}"), t, true);
    }
    map
}

/// The OpenAI names of a CTranslate2 variable, one per equal block of rows
/// (`None`: that block is dropped). Empty for settings (scalars).
pub(super) fn targets(name: &str, rank: usize) -> Result<Vec<Option<String>>, ConvertError> {
    if rank == 0 {
        return Ok(Vec::new());
    }
    let one = |s: String| Ok(vec![Some(s)]);
    let ln = |p: &str| match p {
        "gamma" => Some("weight"),
        "beta" => Some("bias"),
        _ => None,
    };
    let parts: Vec<&str> = name.split('/').collect();
    let unknown = || format_err(format!("unexpected variable {name}"));
    match parts.as_slice() {
        [
            "encoder",
            conv @ ("conv1" | "conv2"),
            p @ ("weight" | "bias"),
        ] => one(format!("encoder.{conv}.{p}")),
        [
            side @ ("encoder" | "decoder"),
            "position_encodings",
            "encodings",
        ] => one(format!("{side}.positional_embedding")),
        ["decoder", "embeddings", "weight"] => one("decoder.token_embedding.weight".into()),
        ["encoder", "layer_norm", p] => {
            one(format!("encoder.ln_post.{}", ln(p).ok_or_else(unknown)?))
        }
        ["decoder", "layer_norm", p] => one(format!("decoder.ln.{}", ln(p).ok_or_else(unknown)?)),
        [side @ ("encoder" | "decoder"), layer, module, sub, p] => {
            let i: usize = layer
                .strip_prefix("layer_")
                .and_then(|n| n.parse().ok())
                .ok_or_else(unknown)?;
            let block = format!("{side}.blocks.{i}");
            let is_bias = *p == "bias";
            if *sub != "layer_norm" && !matches!(*p, "weight" | "bias") {
                return Err(unknown());
            }
            let named = |what: &str| format!("{block}.{what}.{p}");
            let cross = *side == "decoder" && *module == "attention";
            match (*module, *sub) {
                (_, "layer_norm") => {
                    let ln_name = match *module {
                        "self_attention" => "attn_ln",
                        "attention" if cross => "cross_attn_ln",
                        "ffn" => "mlp_ln",
                        _ => return Err(unknown()),
                    };
                    one(format!("{block}.{ln_name}.{}", ln(p).ok_or_else(unknown)?))
                }
                ("self_attention", "linear_0") => Ok(vec![
                    Some(named("attn.query")),
                    (!is_bias).then(|| named("attn.key")),
                    Some(named("attn.value")),
                ]),
                ("self_attention", "linear_1") => one(named("attn.out")),
                ("attention", "linear_0") if cross => one(named("cross_attn.query")),
                ("attention", "linear_1") if cross => Ok(vec![
                    (!is_bias).then(|| named("cross_attn.key")),
                    Some(named("cross_attn.value")),
                ]),
                ("attention", "linear_2") if cross => one(named("cross_attn.out")),
                ("ffn", "linear_0") => one(named("mlp.0")),
                ("ffn", "linear_1") => one(named("mlp.2")),
                _ => Err(unknown()),
            }
        }
        _ => Err(unknown()),
    }
}
