#!/usr/bin/env python3
"""Convert the tox-block 0.1.2 toxicity classifier to ONNX plus a JSON vocabulary.

What: `tox-block==0.1.2` (PyPI) ships a Keras model (`lstm_model_0.1.2.h5`) and
a pickled `TokenSequencer` wrapping a `keras_preprocessing.text.Tokenizer`
(`encoder_0.1.2.pkl`). This script turns them into

* `toxicity.onnx`: input `tokens` int64 [batch, 100], output `scores` float32
  [batch, 6] (raw sigmoid probabilities, not rescaled);
* `toxicity-vocab.json`: the tokeniser rules, the word index (ids < num_words),
  the labels and tox-block's per-label min-max rescaling table.

Why: Cutroom runs inference from Rust through ONNX Runtime, with no Python and
no TensorFlow. So the conversion reads the HDF5 file with h5py, unpickles the
encoder with stand-in classes (no Keras import) and builds the graph with the
`onnx` helpers.

The model is Embedding(20000, 50, mask_zero=False) -> Bidirectional(LSTM(50,
tanh, recurrent hard_sigmoid, return_sequences)) [concat] -> GlobalMaxPool1D ->
Dense(50, relu) -> Dropout (no-op at inference) -> Dense(6, sigmoid). It was
saved by tf.keras "2.2.4-tf", whose hard_sigmoid is clip(0.2 * x + 0.5, 0, 1).
With mask_zero=False the padding id 0 is an ordinary embedding row and the LSTM
runs over the padding, so the graph does the same.

The recurrence is written as an ONNX `Scan` whose body uses only basic ops
(MatMul, Add, Split, HardSigmoid, Tanh, Mul) rather than the fused `LSTM` op:
`onnx.reference`'s LSTM ignores the `activations` attribute (it always uses
sigmoid), so a graph using LSTM+HardSigmoid could not be checked with the
reference evaluator. The Scan graph means the same thing in every runtime.

Before writing anything the script checks itself: a pure-numpy forward pass
written from the Keras layer definitions (independent of the graph-building
code) is compared with the ONNX graph run through `onnx.reference` (and through
onnxruntime if it is installed) on fixed sentences; any difference above 1e-4
exits non-zero. `--expected PATH` also writes the numpy scores for those
sentences, rounded to 4 decimals, for the Rust-side tests.

Usage: python3 toxicity.py --h5 PATH --encoder PATH --out DIR [--expected PATH]
Needs: numpy, h5py, onnx (onnxruntime optional).
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import sys
from pathlib import Path

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
NUM_WORDS = 20000
MAX_LEN = 100
EMBED_DIM = 50
UNITS = 50
DENSE_UNITS = 50
# tox_block/config/config.py RESCALE_PROBA: (min, max) per label.
RESCALE_PROBA = {
    "toxic": (0.002116, 0.999858),
    "severe_toxic": (0.000011, 0.648682),
    "obscene": (0.000347, 0.997533),
    "threat": (0.000040, 0.918887),
    "insult": (0.000373, 0.986303),
    "identity_hate": (0.000074, 0.901117),
}
# Keras 2.x backend.hard_sigmoid: clip(0.2 * x + 0.5, 0, 1) (Keras 3 differs).
HARD_SIGMOID_ALPHA = 0.2
HARD_SIGMOID_BETA = 0.5
OPSET = 17
IR_VERSION = 8
TOLERANCE = 1e-4
ONNX_NAME = "toxicity.onnx"
VOCAB_NAME = "toxicity-vocab.json"
# Classes the encoder pickle may construct as themselves; anything else
# (TokenSequencer, Tokenizer, ...) becomes an attribute-only stand-in.
SAFE_PICKLE_CLASSES = frozenset(
    {("collections", "OrderedDict"), ("collections", "defaultdict"), ("builtins", "int")}
)
CHECK_SENTENCES = (
    "Thank you for the helpful edit, have a great day!",
    "The meeting has been moved to Thursday at 3pm.",
    "I really enjoyed this video about cooking pasta.",
    "You are a stupid idiot and I hate you.",
    "Shut the fuck up, you worthless piece of shit!",
    "I will find you and kill you.",
    "Qwxzyvk blorfnaxt!!! ???",  # no known word: an all-padding row
    "this is a long comment about the history of the article and its sources "
    * 9
    + "and you are an ignorant moron",  # > 100 tokens: exercises pre-truncation
)


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


class _Stub:
    """Stand-in for a pickled class: keeps only the attribute dict."""

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


class _EncoderUnpickler(pickle.Unpickler):
    """Unpickles the TokenSequencer without importing sklearn or Keras."""

    def find_class(self, module: str, name: str):
        if (module, name) in SAFE_PICKLE_CLASSES:
            return super().find_class(module, name)
        return type(name, (_Stub,), {"__module__": f"stub.{module}"})


def load_tokenizer(path: Path) -> dict:
    """Returns the attribute dict of the pickled Keras Tokenizer."""
    with path.open("rb") as f:
        sequencer = _EncoderUnpickler(f).load()
    seq = vars(sequencer)
    tok = vars(seq["tokenizer"])
    if seq.get("max_sequence_length") != MAX_LEN or tok.get("num_words") != NUM_WORDS:
        raise ValueError(f"unexpected encoder settings: {seq.get('max_sequence_length')=}")
    if tok.get("char_level"):
        raise ValueError("char-level tokenizer is not supported")
    return tok


def _layer_configs(config: dict, class_name: str) -> list[dict]:
    """The configs of all layers of one class, in model order."""
    return [l["config"] for l in config["config"]["layers"] if l["class_name"] == class_name]


def load_keras_h5(path: Path) -> dict[str, np.ndarray]:
    """Reads the weights, after checking the saved architecture is the expected one."""
    with h5py.File(path, "r") as f:
        version = f.attrs["keras_version"]
        version = version.decode() if isinstance(version, bytes) else str(version)
        if not version.startswith("2."):
            raise ValueError(f"keras_version {version}: hard_sigmoid definition unknown")
        config = json.loads(f.attrs["model_config"])
        classes = [l["class_name"] for l in config["config"]["layers"]]
        want = ["InputLayer", "Embedding", "Bidirectional", "GlobalMaxPooling1D",
                "Dense", "Dropout", "Dense"]
        if classes != want:
            raise ValueError(f"unexpected layers {classes}")
        (emb,) = _layer_configs(config, "Embedding")
        (bidi,) = _layer_configs(config, "Bidirectional")
        dense, dense_1 = _layer_configs(config, "Dense")
        lstm = bidi["layer"]["config"]
        checks = {
            "embedding.mask_zero": (emb["mask_zero"], False),
            "embedding.input_dim": (emb["input_dim"], NUM_WORDS),
            "embedding.output_dim": (emb["output_dim"], EMBED_DIM),
            "bidirectional.merge_mode": (bidi["merge_mode"], "concat"),
            "lstm.units": (lstm["units"], UNITS),
            "lstm.activation": (lstm["activation"], "tanh"),
            "lstm.recurrent_activation": (lstm["recurrent_activation"], "hard_sigmoid"),
            "lstm.return_sequences": (lstm["return_sequences"], True),
            "lstm.go_backwards": (lstm["go_backwards"], False),
            "lstm.use_bias": (lstm["use_bias"], True),
            "lstm.stateful": (lstm["stateful"], False),
            "dense.units": (dense["units"], DENSE_UNITS),
            "dense.activation": (dense["activation"], "relu"),
            "dense_1.units": (dense_1["units"], len(LABELS)),
            "dense_1.activation": (dense_1["activation"], "sigmoid"),
        }
        bad = {k: v for k, v in checks.items() if v[0] != v[1]}
        if bad:
            raise ValueError(f"unexpected layer config (got, want): {bad}")
        w = f["model_weights"]
        lstm_w = w["bidirectional/bidirectional"]
        weights = {
            "embeddings": w["embedding/embedding/embeddings:0"][()],
            "fwd_kernel": lstm_w["forward_lstm/kernel:0"][()],
            "fwd_recurrent": lstm_w["forward_lstm/recurrent_kernel:0"][()],
            "fwd_bias": lstm_w["forward_lstm/bias:0"][()],
            "bwd_kernel": lstm_w["backward_lstm/kernel:0"][()],
            "bwd_recurrent": lstm_w["backward_lstm/recurrent_kernel:0"][()],
            "bwd_bias": lstm_w["backward_lstm/bias:0"][()],
            "dense_kernel": w["dense/dense/kernel:0"][()],
            "dense_bias": w["dense/dense/bias:0"][()],
            "out_kernel": w["dense_1/dense_1/kernel:0"][()],
            "out_bias": w["dense_1/dense_1/bias:0"][()],
        }
    for name, value in weights.items():
        if value.dtype != np.float32:
            raise ValueError(f"{name} is {value.dtype}, expected float32")
    return weights


# --------------------------------------------------------------------------
# Tokenising (keras_preprocessing.text / .sequence rules)
# --------------------------------------------------------------------------


def text_to_ids(text: str, tok: dict) -> list[int]:
    """Tokenizer.texts_to_sequences for one text (word level)."""
    if tok["lower"]:
        text = text.lower()
    text = text.translate(str.maketrans({c: tok["split"] for c in tok["filters"]}))
    words = [w for w in text.split(tok["split"]) if w]
    oov = tok["word_index"].get(tok["oov_token"]) if tok["oov_token"] is not None else None
    ids = []
    for word in words:
        i = tok["word_index"].get(word)
        if i is not None and i < tok["num_words"]:
            ids.append(i)
        elif oov is not None:
            ids.append(oov)
    return ids


def pad_pre(sequences: list[list[int]]) -> np.ndarray:
    """pad_sequences(maxlen=MAX_LEN), padding='pre', truncating='pre', value 0."""
    out = np.zeros((len(sequences), MAX_LEN), dtype=np.int64)
    for row, seq in enumerate(sequences):
        kept = seq[-MAX_LEN:]
        if kept:
            out[row, MAX_LEN - len(kept):] = kept
    return out


# --------------------------------------------------------------------------
# Reference maths: numpy, straight from the Keras layer definitions
# --------------------------------------------------------------------------


def _hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(np.float32(HARD_SIGMOID_ALPHA) * x + np.float32(HARD_SIGMOID_BETA), 0, 1)


def _keras_lstm(x: np.ndarray, kernel, recurrent, bias) -> np.ndarray:
    """keras LSTM, return_sequences=True, zero initial state; x [batch, time, in]."""
    batch, steps, _ = x.shape
    h = np.zeros((batch, UNITS), np.float32)
    c = np.zeros((batch, UNITS), np.float32)
    k_i, k_f, k_c, k_o = np.split(kernel, 4, axis=1)
    r_i, r_f, r_c, r_o = np.split(recurrent, 4, axis=1)
    b_i, b_f, b_c, b_o = np.split(bias, 4)
    outputs = []
    for t in range(steps):
        x_t = x[:, t, :]
        i = _hard_sigmoid(x_t @ k_i + b_i + h @ r_i)
        f = _hard_sigmoid(x_t @ k_f + b_f + h @ r_f)
        c = f * c + i * np.tanh(x_t @ k_c + b_c + h @ r_c)
        o = _hard_sigmoid(x_t @ k_o + b_o + h @ r_o)
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def keras_forward(weights: dict[str, np.ndarray], tokens: np.ndarray) -> np.ndarray:
    """Embedding -> Bidirectional(LSTM) concat -> GlobalMaxPool1D -> Dense relu -> Dense sigmoid."""
    x = weights["embeddings"][tokens]  # no mask: id 0 is a normal row
    fwd = _keras_lstm(x, weights["fwd_kernel"], weights["fwd_recurrent"], weights["fwd_bias"])
    # Backward layer reads the reversed sequence; Bidirectional re-reverses its output.
    bwd = _keras_lstm(x[:, ::-1], weights["bwd_kernel"], weights["bwd_recurrent"],
                      weights["bwd_bias"])[:, ::-1]
    seq = np.concatenate([fwd, bwd], axis=-1)
    pooled = seq.max(axis=1)
    hidden = np.maximum(pooled @ weights["dense_kernel"] + weights["dense_bias"], 0)
    logits = hidden @ weights["out_kernel"] + weights["out_bias"]
    return (1 / (1 + np.exp(-logits))).astype(np.float32)


# --------------------------------------------------------------------------
# ONNX graph
# --------------------------------------------------------------------------


def _init(name: str, value: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(value), name)


def _cell_nodes(d: str) -> list[onnx.NodeProto]:
    """One LSTM step for direction d inside the Scan body (Keras gate order i, f, c, o)."""
    hs = {"alpha": HARD_SIGMOID_ALPHA, "beta": HARD_SIGMOID_BETA}
    n = helper.make_node
    return [
        n("MatMul", [f"{d}_h_in", f"{d}_recurrent"], [f"{d}_hr"]),
        n("Add", [f"{d}_gx_t", f"{d}_hr"], [f"{d}_z"]),
        n("Split", [f"{d}_z", "gate_sizes"], [f"{d}_zi", f"{d}_zf", f"{d}_zc", f"{d}_zo"], axis=1),
        n("HardSigmoid", [f"{d}_zi"], [f"{d}_i"], **hs),
        n("HardSigmoid", [f"{d}_zf"], [f"{d}_f"], **hs),
        n("Tanh", [f"{d}_zc"], [f"{d}_g"]),
        n("HardSigmoid", [f"{d}_zo"], [f"{d}_o"], **hs),
        n("Mul", [f"{d}_f", f"{d}_c_in"], [f"{d}_fc"]),
        n("Mul", [f"{d}_i", f"{d}_g"], [f"{d}_ig"]),
        n("Add", [f"{d}_fc", f"{d}_ig"], [f"{d}_c_out"]),
        n("Tanh", [f"{d}_c_out"], [f"{d}_tc"]),
        n("Mul", [f"{d}_o", f"{d}_tc"], [f"{d}_h_out"]),
        n("Identity", [f"{d}_h_out"], [f"{d}_y_t"]),
    ]


def _scan_body(weights: dict[str, np.ndarray]) -> onnx.GraphProto:
    """Both directions' cells in one body: states (h, c) x 2, scan inputs gx_t x 2."""
    def vi(name: str, width: int):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, width])

    dirs = ("fwd", "bwd")
    inputs = [vi(f"{d}_{s}_in", UNITS) for d in dirs for s in ("h", "c")]
    inputs += [vi(f"{d}_gx_t", 4 * UNITS) for d in dirs]
    outputs = [vi(f"{d}_{s}_out", UNITS) for d in dirs for s in ("h", "c")]
    outputs += [vi(f"{d}_y_t", UNITS) for d in dirs]
    initializers = [_init(f"{d}_recurrent", weights[f"{d}_recurrent"]) for d in dirs]
    initializers.append(_init("gate_sizes", np.full(4, UNITS, np.int64)))
    nodes = _cell_nodes("fwd") + _cell_nodes("bwd")
    return helper.make_graph(nodes, "lstm_step", inputs, outputs, initializers)


def build_onnx(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """tokens int64 [batch, 100] -> scores float32 [batch, 6]."""
    n = helper.make_node
    nodes = [
        # Embedding lookup, then time-major [100, batch, 50].
        n("Gather", ["embeddings", "tokens"], ["embedded"], axis=0),
        n("Transpose", ["embedded"], ["x_tm"], perm=[1, 0, 2]),
        # Input projections for all steps at once.
        n("MatMul", ["x_tm", "fwd_kernel"], ["fwd_xk"]),
        n("Add", ["fwd_xk", "fwd_bias"], ["fwd_gx"]),
        n("MatMul", ["x_tm", "bwd_kernel"], ["bwd_xk"]),
        n("Add", ["bwd_xk", "bwd_bias"], ["bwd_gx_tm"]),
        n("Slice", ["bwd_gx_tm", "rev_starts", "rev_ends", "axis0", "rev_steps"], ["bwd_gx"]),
        # Zero initial states of shape [batch, 50].
        n("Shape", ["tokens"], ["batch_dim"], start=0, end=1),
        n("Concat", ["batch_dim", "units_dim"], ["state_shape"], axis=0),
        n("ConstantOfShape", ["state_shape"], ["zeros"],
          value=numpy_helper.from_array(np.zeros(1, np.float32))),
        n("Scan", ["zeros"] * 4 + ["fwd_gx", "bwd_gx"],
          ["fwd_h", "fwd_c", "bwd_h", "bwd_c", "fwd_y", "bwd_y"],
          num_scan_inputs=2, body=_scan_body(weights)),
        # GlobalMaxPool1D over time; bwd_y is in reversed time order, which a max ignores.
        n("ReduceMax", ["fwd_y"], ["fwd_max"], axes=[0], keepdims=0),
        n("ReduceMax", ["bwd_y"], ["bwd_max"], axes=[0], keepdims=0),
        n("Concat", ["fwd_max", "bwd_max"], ["pooled"], axis=1),
        n("MatMul", ["pooled", "dense_kernel"], ["dense_mm"]),
        n("Add", ["dense_mm", "dense_bias"], ["dense_pre"]),
        n("Relu", ["dense_pre"], ["hidden"]),
        n("MatMul", ["hidden", "out_kernel"], ["out_mm"]),
        n("Add", ["out_mm", "out_bias"], ["logits"]),
        n("Sigmoid", ["logits"], ["scores"]),
    ]
    names = ("embeddings", "fwd_kernel", "fwd_bias", "bwd_kernel", "bwd_bias",
             "dense_kernel", "dense_bias", "out_kernel", "out_bias")
    initializers = [_init(name, weights[name]) for name in names]
    initializers += [
        _init("rev_starts", np.array([-1], np.int64)),
        _init("rev_ends", np.array([np.iinfo(np.int64).min], np.int64)),
        _init("axis0", np.array([0], np.int64)),
        _init("rev_steps", np.array([-1], np.int64)),
        _init("units_dim", np.array([UNITS], np.int64)),
    ]
    graph = helper.make_graph(
        nodes,
        "toxicity",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", MAX_LEN])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", len(LABELS)])],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="cutroom-toxicity",
        producer_version="tox-block-0.1.2",
        doc_string="tox-block 0.1.2 BiLSTM toxicity model; outputs raw sigmoid scores for "
        + ", ".join(LABELS),
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


# --------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------


def vocab_json(tok: dict) -> bytes:
    """The tokeniser contract for the Rust side, as sorted-key UTF-8 JSON."""
    vocab = {
        "labels": list(LABELS),
        "num_words": tok["num_words"],
        "max_len": MAX_LEN,
        "padding": "pre",
        "truncating": "pre",
        "lower": bool(tok["lower"]),
        "filters": tok["filters"],
        "split": tok["split"],
        "oov_token": tok["oov_token"],
        "rescale": {label: list(RESCALE_PROBA[label]) for label in LABELS},
        "word_index": {w: int(i) for w, i in tok["word_index"].items() if i < tok["num_words"]},
    }
    return (json.dumps(vocab, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def expected_json(texts: tuple[str, ...], scores: np.ndarray) -> bytes:
    rows = [
        {"text": text, "scores": {label: round(float(s), 4) for label, s in zip(LABELS, row)}}
        for text, row in zip(texts, scores)
    ]
    return (json.dumps(rows, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def run_onnxruntime(model: onnx.ModelProto, tokens: np.ndarray) -> np.ndarray | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["scores"], {"tokens": tokens})[0]


def print_table(texts: tuple[str, ...], scores: np.ndarray) -> None:
    print("text".ljust(42) + "".join(label[:9].rjust(10) for label in LABELS))
    for text, row in zip(texts, scores):
        short = text if len(text) <= 40 else text[:37] + "..."
        print(short.ljust(42) + "".join(f"{s:10.4f}" for s in row))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--h5", type=Path, required=True, help="lstm_model_0.1.2.h5")
    parser.add_argument("--encoder", type=Path, required=True, help="encoder_0.1.2.pkl")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--expected", type=Path, help="also write the check scores here")
    args = parser.parse_args()

    weights = load_keras_h5(args.h5)
    tok = load_tokenizer(args.encoder)
    model = build_onnx(weights)

    tokens = pad_pre([text_to_ids(text, tok) for text in CHECK_SENTENCES])
    want = keras_forward(weights, tokens)
    got = {"onnx.reference": ReferenceEvaluator(model).run(None, {"tokens": tokens})[0]}
    ort_scores = run_onnxruntime(model, tokens)
    if ort_scores is not None:
        got["onnxruntime"] = ort_scores

    print_table(CHECK_SENTENCES, want)
    failed = False
    for name, scores in got.items():
        diff = float(np.abs(scores - want).max())
        ok = scores.shape == want.shape and diff <= TOLERANCE
        failed |= not ok
        print(f"max |numpy - {name}| = {diff:.3g} ({'ok' if ok else 'FAIL'})")
    if "onnxruntime" not in got:
        print("onnxruntime not installed: skipped")
    if failed:
        print(f"ONNX graph differs from the Keras maths by more than {TOLERANCE}", file=sys.stderr)
        return 1

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / ONNX_NAME).write_bytes(model.SerializeToString())
    (args.out / VOCAB_NAME).write_bytes(vocab_json(tok))
    if args.expected:
        args.expected.write_bytes(expected_json(CHECK_SENTENCES, want))
    print(f"wrote {args.out / ONNX_NAME} and {args.out / VOCAB_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
