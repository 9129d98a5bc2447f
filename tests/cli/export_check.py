"""Checks an ONNX file from nnsim export against nnsim predict's output.

Usage: /usr/bin/python3 export_check.py MODEL.onnx INPUT.csv NINPUTS PRED.csv

Loads the file with onnx, runs onnx.checker, runs the graph on the first
NINPUTS columns of INPUT.csv (raw, with a header line) with a float32 numpy
evaluator of the operators export uses, and compares the outputs with the
output columns of PRED.csv (nnsim predict's CSV; a leading class column is
skipped) to 1e-5 relative. Prints nothing and exits 0 when they agree.
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def gemm(a, b, c, at):
    if at.get("transA", 0):
        a = a.T
    if at.get("transB", 0):
        b = b.T
    return np.float32(at.get("alpha", 1.0)) * (a @ b) + \
        np.float32(at.get("beta", 1.0)) * c


OPS = {
    "Sub": lambda x, at: x[0] - x[1],
    "Mul": lambda x, at: x[0] * x[1],
    "Gemm": lambda x, at: gemm(x[0], x[1], x[2], at),
    "Relu": lambda x, at: np.maximum(x[0], np.float32(0)),
    "LeakyRelu": lambda x, at: np.where(x[0] > 0, x[0],
                                        np.float32(at["alpha"]) * x[0]),
    "Sigmoid": lambda x, at: np.float32(1) / (np.float32(1) + np.exp(-x[0])),
    "Tanh": lambda x, at: np.tanh(x[0]),
    "Softmax": lambda x, at: softmax(x[0], at.get("axis", -1)),
}


def run(model, x):
    g = model.graph
    env = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    env[g.input[0].name] = x
    for node in g.node:
        assert node.op_type in OPS, "unexpected operator " + node.op_type
        out = OPS[node.op_type]([env[i] for i in node.input], attrs(node))
        env[node.output[0]] = out.astype(np.float32)
    return env[g.output[0].name]


def main():
    path, inputs, nin, pred = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        sys.argv[4]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import] == [13], model.opset_import
    g = model.graph
    assert len(g.input) == 1 and len(g.output) == 1
    dims = g.input[0].type.tensor_type.shape.dim
    assert dims[1].dim_value == nin, dims
    x = np.loadtxt(inputs, delimiter=",", skiprows=1, usecols=range(nin),
                   dtype=np.float32, ndmin=2)
    y = run(model, x)
    with open(pred) as f:
        header = f.readline().strip().split(",")
    skip = 1 if header[0] == "class" else 0
    want = np.loadtxt(pred, delimiter=",", skiprows=1, ndmin=2,
                      usecols=range(skip, len(header)))
    assert y.shape == want.shape, (y.shape, want.shape)
    err = np.abs(y - want) / np.maximum(np.abs(want), 1e-3)
    assert err.max() <= 1e-5, "max relative difference %g at %s" % (
        err.max(), np.unravel_index(err.argmax(), err.shape))
    # The graph computes something: outputs differ between rows.
    assert np.ptp(y, axis=0).max() > 1e-3, "constant outputs"


main()
