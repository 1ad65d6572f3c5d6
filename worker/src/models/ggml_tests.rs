//! Conversion of a small synthetic Whisper model, read back with a
//! minimal ggml reader.

use std::{collections::BTreeMap, io::Cursor};

use half::f16;

use super::*;
use crate::models::ct2::write_model;

const S: usize = 32;
const MELS: usize = 4;
const AUDIO_CTX: usize = 3;
const TEXT_CTX: usize = 2;
const VOCAB: usize = 6;
const VOCABULARY: &str = "a\nb\nĠc\n<|endoftext|>\n<|startoftranscript|>\n<|en|>\n";

/// Deterministic f16 data, different for every variable.
fn values(seed: usize, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            let v = ((i * 37 + seed * 11) % 101) as f32 / 64.0 - 0.75;
            f16::from_f32(v).to_le_bytes()
        })
        .collect()
}

/// (name, shape) of every variable of a CTranslate2 Whisper model with one
/// encoder and two decoder layers, in the file's (alphabetical) order.
fn variable_shapes() -> Vec<(String, Vec<usize>)> {
    let mut v: Vec<(String, Vec<usize>)> = Vec::new();
    let mut add = |name: String, shape: &[usize]| v.push((name, shape.to_vec()));
    let block = |add: &mut dyn FnMut(String, &[usize]), p: String, cross: bool| {
        let mut modules = vec!["self_attention", "ffn"];
        if cross {
            modules.push("attention");
        }
        for m in modules {
            add(format!("{p}/{m}/layer_norm/beta"), &[S]);
            add(format!("{p}/{m}/layer_norm/gamma"), &[S]);
        }
        add(format!("{p}/self_attention/linear_0/bias"), &[3 * S]);
        add(format!("{p}/self_attention/linear_0/weight"), &[3 * S, S]);
        add(format!("{p}/self_attention/linear_1/bias"), &[S]);
        add(format!("{p}/self_attention/linear_1/weight"), &[S, S]);
        add(format!("{p}/ffn/linear_0/bias"), &[4 * S]);
        add(format!("{p}/ffn/linear_0/weight"), &[4 * S, S]);
        add(format!("{p}/ffn/linear_1/bias"), &[S]);
        add(format!("{p}/ffn/linear_1/weight"), &[S, 4 * S]);
        if cross {
            add(format!("{p}/attention/linear_0/bias"), &[S]);
            add(format!("{p}/attention/linear_0/weight"), &[S, S]);
            add(format!("{p}/attention/linear_1/bias"), &[2 * S]);
            add(format!("{p}/attention/linear_1/weight"), &[2 * S, S]);
            add(format!("{p}/attention/linear_2/bias"), &[S]);
            add(format!("{p}/attention/linear_2/weight"), &[S, S]);
        }
    };
    add("decoder/embeddings/weight".into(), &[VOCAB, S]);
    for i in 0..2 {
        block(&mut add, format!("decoder/layer_{i}"), true);
    }
    add("decoder/layer_norm/beta".into(), &[S]);
    add("decoder/layer_norm/gamma".into(), &[S]);
    add(
        "decoder/position_encodings/encodings".into(),
        &[TEXT_CTX, S],
    );
    add("encoder/conv1/bias".into(), &[S]);
    add("encoder/conv1/weight".into(), &[S, MELS, 3]);
    add("encoder/conv2/bias".into(), &[S]);
    add("encoder/conv2/weight".into(), &[S, S, 3]);
    block(&mut add, "encoder/layer_0".into(), false);
    add("encoder/layer_norm/beta".into(), &[S]);
    add("encoder/layer_norm/gamma".into(), &[S]);
    add(
        "encoder/position_encodings/encodings".into(),
        &[AUDIO_CTX, S],
    );
    v
}

/// The synthetic model file, with `extra` variables appended and those
/// named in `without` left out.
fn model_file(extra: &[(&str, &[usize])], without: &[&str]) -> Model<Cursor<Vec<u8>>> {
    let shapes: Vec<(String, Vec<usize>)> = variable_shapes()
        .into_iter()
        .chain(extra.iter().map(|(n, s)| ((*n).to_owned(), s.to_vec())))
        .filter(|(n, _)| !without.contains(&n.as_str()))
        .collect();
    let data: Vec<Vec<u8>> = shapes
        .iter()
        .enumerate()
        .map(|(i, (_, s))| values(i, s.iter().product()))
        .collect();
    let heads = 2i16.to_le_bytes();
    let mut vars: Vec<(&str, &[usize], DType, &[u8])> = vec![
        ("decoder/activation", &[], DType::I8, &[1]),
        ("decoder/num_heads", &[], DType::I16, &heads),
        ("encoder/num_heads", &[], DType::I16, &heads),
    ];
    for ((n, s), d) in shapes.iter().zip(&data) {
        vars.push((n, s, DType::F16, d));
    }
    let mut file = Vec::new();
    write_model(
        &mut file,
        "WhisperSpec",
        &vars,
        &[("decoder/projection/weight", "decoder/embeddings/weight")],
    )
    .unwrap();
    Model::read_index(Cursor::new(file)).unwrap()
}

struct Tensor {
    dims: Vec<usize>,
    ty: i32,
    data: Vec<u8>,
}

struct Parsed {
    hparams: Vec<i32>,
    filters: (i32, i32),
    tokens: Vec<Vec<u8>>,
    tensors: BTreeMap<String, Tensor>,
}

fn parse(file: &[u8]) -> Parsed {
    let i32_at = |pos: &mut usize| {
        let v = i32::from_le_bytes(file[*pos..*pos + 4].try_into().unwrap());
        *pos += 4;
        v
    };
    let mut pos = 0;
    assert_eq!(i32_at(&mut pos) as u32, MAGIC);
    let hparams: Vec<i32> = (0..11).map(|_| i32_at(&mut pos)).collect();
    let filters = (i32_at(&mut pos), i32_at(&mut pos));
    pos += (filters.0 * filters.1 * 4) as usize;
    let n_tokens = i32_at(&mut pos);
    let mut tokens = Vec::new();
    for _ in 0..n_tokens {
        let len = i32_at(&mut pos) as usize;
        tokens.push(file[pos..pos + len].to_vec());
        pos += len;
    }
    let mut tensors = BTreeMap::new();
    while pos < file.len() {
        let (n_dims, name_len, ty) = (i32_at(&mut pos), i32_at(&mut pos), i32_at(&mut pos));
        let dims: Vec<usize> = (0..n_dims).map(|_| i32_at(&mut pos) as usize).collect();
        let name = String::from_utf8(file[pos..pos + name_len as usize].to_vec()).unwrap();
        pos += name_len as usize;
        let n: usize = dims.iter().product();
        let len = match ty {
            0 => n * 4,
            1 => n * 2,
            8 => n / 32 * 34,
            other => panic!("type {other}"),
        };
        let data = file[pos..pos + len].to_vec();
        pos += len;
        assert!(tensors.insert(name, Tensor { dims, ty, data }).is_none());
    }
    Parsed {
        hparams,
        filters,
        tokens,
        tensors,
    }
}

fn convert_to_vec(model: &mut Model<Cursor<Vec<u8>>>, weights: WeightType) -> Vec<u8> {
    let mut out = Vec::new();
    convert(model, VOCABULARY, weights, &mut out).unwrap();
    out
}

/// The f16 rows `rows` of a [_, S] variable.
fn rows_of(
    model: &mut Model<Cursor<Vec<u8>>>,
    name: &str,
    rows: std::ops::Range<usize>,
) -> Vec<u8> {
    let var = model.variable(name).unwrap().clone();
    let cols = var.elements() / var.shape[0];
    model.read(&var).unwrap()[rows.start * cols * 2..rows.end * cols * 2].to_vec()
}

#[test]
fn f16_file_has_whisper_cpp_layout_and_split_projections() {
    let mut model = model_file(&[], &[]);
    let parsed = parse(&convert_to_vec(&mut model, WeightType::F16));
    assert_eq!(parsed.hparams, [6, 3, 32, 2, 1, 2, 32, 2, 2, 4, 1]);
    assert_eq!(parsed.filters, (4, 201));
    assert_eq!(
        parsed.tokens,
        [b"a".to_vec(), b"b".to_vec(), b" c".to_vec()]
    );
    assert_eq!(parsed.tensors.len(), 11 + 15 + 2 * 24);

    let t = &parsed.tensors;
    let q = &t["decoder.blocks.1.attn.query.weight"];
    assert_eq!((q.dims.as_slice(), q.ty), (&[S, S][..], 1));
    let qkv = "decoder/layer_1/self_attention/linear_0/weight";
    assert_eq!(q.data, rows_of(&mut model, qkv, 0..S));
    assert_eq!(
        t["decoder.blocks.1.attn.key.weight"].data,
        rows_of(&mut model, qkv, S..2 * S)
    );
    assert_eq!(
        t["decoder.blocks.1.attn.value.weight"].data,
        rows_of(&mut model, qkv, 2 * S..3 * S)
    );
    assert!(!t.contains_key("decoder.blocks.1.attn.key.bias"));
    let kv = "decoder/layer_0/attention/linear_1/weight";
    assert_eq!(
        t["decoder.blocks.0.cross_attn.key.weight"].data,
        rows_of(&mut model, kv, 0..S)
    );
    assert_eq!(
        t["decoder.blocks.0.cross_attn.value.weight"].data,
        rows_of(&mut model, kv, S..2 * S)
    );

    // 1-D tensors and conv biases become f32 ([1, n] for the biases).
    let bias = &t["encoder.conv1.bias"];
    assert_eq!((bias.dims.as_slice(), bias.ty), (&[1, S][..], 0));
    let src = rows_of(&mut model, "encoder/conv1/bias", 0..S);
    let first = f32::from_le_bytes(bias.data[..4].try_into().unwrap());
    assert_eq!(first, f16::from_le_bytes([src[0], src[1]]).to_f32());
    assert_eq!(t["encoder.ln_post.weight"].ty, 0);
    assert_eq!(t["decoder.positional_embedding"].ty, 0);
    assert_eq!(t["encoder.conv1.weight"].dims, [3, MELS, S]);
    assert_eq!(t["decoder.token_embedding.weight"].dims, [S, VOCAB]);
}

#[test]
fn q8_0_quantises_only_the_weight_matrices() {
    let mut model = model_file(&[], &[]);
    let parsed = parse(&convert_to_vec(&mut model, WeightType::Q8_0));
    assert_eq!(parsed.hparams[10], 2007);
    let t = &parsed.tensors;
    assert_eq!(t["encoder.blocks.0.mlp.0.weight"].ty, 8);
    assert_eq!(t["decoder.token_embedding.weight"].ty, 8);
    assert_eq!(t["encoder.conv2.weight"].ty, 1);
    assert_eq!(t["encoder.positional_embedding"].ty, 0);
    assert_eq!(t["encoder.conv2.bias"].ty, 0);

    // Dequantised weights stay within half a step of the originals (plus
    // a little: the step is stored as f16 after rounding with the f32 one).
    let src = rows_of(&mut model, "encoder/layer_0/ffn/linear_1/weight", 0..S);
    let q = &t["encoder.blocks.0.mlp.2.weight"].data;
    for (b, block) in q.chunks_exact(34).enumerate() {
        let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
        for j in 0..32 {
            let i = b * 32 + j;
            let want = f16::from_le_bytes([src[2 * i], src[2 * i + 1]]).to_f32();
            let got = d * f32::from(block[2 + j] as i8);
            assert!((got - want).abs() <= d * 0.6, "{i}: {got} vs {want}");
        }
    }
}

#[test]
fn q8_0_blocks_match_ggml_reference() {
    let block: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
    let mut out = Vec::new();
    quantize_q8_0(&block, &mut out);
    assert_eq!(out.len(), 34);
    assert_eq!(
        f16::from_le_bytes([out[0], out[1]]),
        f16::from_f32(16.0 / 127.0)
    );
    assert_eq!(out[2] as i8, -127);
    // -4 / (16 / 127) = -31.75
    assert_eq!(out[2 + 12] as i8, -32);
    assert_eq!(out[2 + 16], 0);
    let mut zeros = Vec::new();
    quantize_q8_0(&[0.0; 32], &mut zeros);
    assert!(zeros.iter().all(|b| *b == 0));
}

#[test]
fn unknown_or_missing_variables_are_errors() {
    let mut extra = model_file(
        &[("encoder/layer_0/ffn/linear_0/weight_scale", &[4 * S])],
        &[],
    );
    let err = convert(&mut extra, VOCABULARY, WeightType::F16, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("weight_scale"), "{err}");

    let mut missing = model_file(&[], &["decoder/layer_1/ffn/linear_1/bias"]);
    let err = convert(&mut missing, VOCABULARY, WeightType::F16, &mut Vec::new()).unwrap_err();
    assert!(
        err.to_string().contains("decoder.blocks.1.mlp.2.bias"),
        "{err}"
    );
}
