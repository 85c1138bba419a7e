#!/usr/bin/env python3
"""Rebuilds Keshi's face-verification ONNX models from the files that npm packages ship.

Issue 14, R-ID-2 / R-ST-3. Called by `build.sh` (which installs the pinned packages);
see `scripts/models/README.md` and `capture/NOTICE.md` for provenance and licences.

Two models:

* `dlib_face_recognition_resnet_v1.onnx` -- dlib's face-recognition ResNet (128-d
  descriptor of a 150x150 aligned face; weights CC0 by Davis King), from the tfjs
  weights in npm `@vladmandic/face-api` (`model/face_recognition_model.bin` + manifest;
  uint8-quantised tensors are dequantised as tfjs does: q * scale + min). Each dlib
  affine layer (`scale/weights`, `scale/biases`) is folded into the convolution before
  it: w' = w * s, b' = b * s + t. The residual-down shortcut is an average pool whose
  channels are zero-padded (dlib's `add_prev` adds tensors of different shapes by zero
  padding); where the pooled map is larger than the convolution's output, the
  convolution's output is zero-padded at the bottom and right, as dlib does.
  Input `image`: float32 [1, 3, 150, 150], RGB, 0..255 (the graph subtracts dlib's mean
  and divides by 256, as dlib's `input_rgb_image` does). Output `descriptor`: [1, 128].

* `mediapipe_face_landmark.onnx` -- MediaPipe's face landmark model (468 3-D points;
  Apache-2.0), `face_landmark.tflite` taken out of npm `@mediapipe/face_mesh`'s
  `face_mesh_solution_packed_assets.data` (byte range from the package's
  `face_mesh_solution_packed_assets_loader.js`). The float16 constants behind each
  DEQUANTIZE are widened to float32, NHWC becomes NCHW. Input `image`: float32
  [1, 3, 192, 192], RGB, 0..1. Outputs `landmarks` [1, 1404] (x, y, z per point, in
  input pixels) and `face_flag` [1, 1] (a logit: sigmoid > 0.5 means a face).

The output is deterministic: same inputs and pinned package versions give the same
bytes (checked by `build.sh --check` against `MANIFEST`).
"""

import argparse
import json
import re
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8
PRODUCER = "keshi scripts/models/convert.py"
PRODUCER_VERSION = "1"


def _model(graph, doc):
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version=PRODUCER_VERSION,
        doc_string=doc,
    )
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m)
    return m


# --------------------------------------------------------------------------- dlib


def load_tfjs(manifest_path, bin_path):
    """Reads a tfjs weights manifest and its .bin into {name: float32 array}."""
    with open(manifest_path, "r", encoding="utf-8") as f:
        manifest = json.load(f)
    data = open(bin_path, "rb").read()
    out = {}
    pos = 0
    for group in manifest:
        for w in group["weights"]:
            shape = w["shape"]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q:
                if q["dtype"] != "uint8":
                    raise SystemExit(f"unsupported quantisation {q['dtype']} for {w['name']}")
                raw = np.frombuffer(data, dtype=np.uint8, count=n, offset=pos)
                pos += n
                arr = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
            else:
                if w["dtype"] != "float32":
                    raise SystemExit(f"unsupported dtype {w['dtype']} for {w['name']}")
                arr = np.frombuffer(data, dtype="<f4", count=n, offset=pos).copy()
                pos += 4 * n
            out[w["name"]] = arr.reshape(shape).astype(np.float32)
    if pos != len(data):
        raise SystemExit(f"{bin_path}: read {pos} of {len(data)} bytes")
    return out


class Graph:
    def __init__(self):
        self.nodes = []
        self.inits = []
        self.n = 0

    def const(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(self, op, inputs, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name


def dlib_conv(g, w, x, prefix, stride, relu, pad_same):
    """dlib con + affine (+ relu): tfjs filters [kh, kw, in, out] -> ONNX [out, in, kh, kw]."""
    filt = w[f"{prefix}/conv/filters"]
    bias = w[f"{prefix}/conv/bias"]
    s = w[f"{prefix}/scale/weights"]
    t = w[f"{prefix}/scale/biases"]
    kernel = np.transpose(filt, (3, 2, 0, 1)) * s[:, None, None, None]
    b = bias * s + t
    kh = filt.shape[0]
    p = kh // 2 if pad_same else 0
    name = prefix.replace("/", "_")
    y = g.node(
        "Conv",
        [x, g.const(name + "_w", kernel.astype(np.float32)), g.const(name + "_b", b.astype(np.float32))],
        name,
        kernel_shape=[kh, kh],
        strides=[stride, stride],
        pads=[p, p, p, p],
    )
    if relu:
        y = g.node("Relu", [y], name + "_relu")
    return y


def build_dlib(manifest_path, bin_path):
    w = load_tfjs(manifest_path, bin_path)
    g = Graph()
    mean = np.array([122.782, 117.001, 104.298], dtype=np.float32).reshape(1, 3, 1, 1)
    x = g.node("Sub", ["image", g.const("mean_rgb", mean)], "centred")
    x = g.node("Div", [x, g.const("div_256", np.array(256.0, dtype=np.float32))], "normalised")
    x = dlib_conv(g, w, x, "conv32_down", 2, True, False)
    x = g.node("MaxPool", [x], "pool0", kernel_shape=[3, 3], strides=[2, 2])
    # Spatial size after each stage (150 -> 72 -> 35 -> ...), to plan the zero padding.
    size, ch = 35, 32

    def residual(x, prefix):
        y = dlib_conv(g, w, x, prefix + "/conv1", 1, True, True)
        y = dlib_conv(g, w, y, prefix + "/conv2", 1, False, True)
        y = g.node("Add", [y, x], prefix + "_add")
        return g.node("Relu", [y], prefix + "_out")

    def residual_down(x, prefix, size, ch):
        out_ch = w[prefix + "/conv1/conv/filters"].shape[3]
        y = dlib_conv(g, w, x, prefix + "/conv1", 2, True, False)
        y = dlib_conv(g, w, y, prefix + "/conv2", 1, False, True)
        conv_size = (size - 3) // 2 + 1
        pool_size = size // 2
        pooled = g.node("AveragePool", [x], prefix + "_pool", kernel_shape=[2, 2], strides=[2, 2])
        if pool_size != conv_size:
            d = pool_size - conv_size
            pads = np.array([0, 0, 0, 0, 0, 0, d, d], dtype=np.int64)
            y = g.node("Pad", [y, g.const(prefix + "_ypads", pads)], prefix + "_ypad")
        if out_ch != ch:
            pads = np.array([0, 0, 0, 0, 0, out_ch - ch, 0, 0], dtype=np.int64)
            pooled = g.node("Pad", [pooled, g.const(prefix + "_cpads", pads)], prefix + "_cpad")
        y = g.node("Add", [pooled, y], prefix + "_add")
        return g.node("Relu", [y], prefix + "_out"), pool_size, out_ch

    for p in ["conv32_1", "conv32_2", "conv32_3"]:
        x = residual(x, p)
    x, size, ch = residual_down(x, "conv64_down", size, ch)
    for p in ["conv64_1", "conv64_2", "conv64_3"]:
        x = residual(x, p)
    x, size, ch = residual_down(x, "conv128_down", size, ch)
    for p in ["conv128_1", "conv128_2"]:
        x = residual(x, p)
    x, size, ch = residual_down(x, "conv256_down", size, ch)
    for p in ["conv256_1", "conv256_2"]:
        x = residual(x, p)
    x, size, ch = residual_down(x, "conv256_down_out", size, ch)
    x = g.node("GlobalAveragePool", [x], "gap")
    x = g.node("Flatten", [x], "flat", axis=1)
    g.node("MatMul", [x, g.const("fc_w", w["fc"])], "descriptor")

    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_v1",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 150, 150])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, [1, 128])],
        initializer=g.inits,
    )
    return _model(
        graph,
        "dlib face recognition ResNet v1 (weights CC0, Davis King), from npm "
        "@vladmandic/face-api face_recognition_model.bin; affine layers folded",
    )


# ---------------------------------------------------------------------- MediaPipe


def extract_packed(loader_js, data_path, suffix):
    """Cuts one file out of an Emscripten packed-assets .data file."""
    text = open(loader_js, "r", encoding="utf-8").read()
    for m in re.finditer(r'"filename":\s*"([^"]+)",\s*"start":\s*(\d+),\s*"end":\s*(\d+)', text):
        if m.group(1).endswith(suffix):
            data = open(data_path, "rb").read()
            return data[int(m.group(2)) : int(m.group(3))]
    raise SystemExit(f"{suffix} not listed in {loader_js}")


def build_face_mesh(tflite_bytes):
    import tflite  # pinned in build.sh

    model = tflite.Model.GetRootAsModel(tflite_bytes, 0)
    if model.SubgraphsLength() != 1:
        raise SystemExit("expected one subgraph")
    sg = model.Subgraphs(0)
    op_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if isinstance(v, int)}
    np_types = {
        tflite.TensorType.FLOAT32: np.float32,
        tflite.TensorType.FLOAT16: np.float16,
        tflite.TensorType.INT32: np.int32,
    }

    def tensor(i):
        return sg.Tensors(i)

    def tname(i):
        return tensor(i).Name().decode("utf-8")

    def tshape(i):
        return [int(d) for d in tensor(i).ShapeAsNumpy()]

    def buffer(i):
        t = tensor(i)
        b = model.Buffers(t.Buffer())
        if b.DataLength() == 0:
            return None
        return np.frombuffer(b.DataAsNumpy().tobytes(), dtype=np_types[t.Type()]).reshape(tshape(i))

    consts = {}  # tensor index -> float32/int32 array (NHWC layout as in tflite)
    g = Graph()
    names = {}  # tensor index -> ONNX value name (NCHW)
    in_idx = sg.Inputs(0)
    names[in_idx] = "image"

    def value(i):
        if i in names:
            return names[i]
        raise SystemExit(f"tensor {tname(i)} used before it is produced")

    def activation(y, fused, name):
        if fused == tflite.ActivationFunctionType.NONE:
            return y
        if fused == tflite.ActivationFunctionType.RELU:
            return g.node("Relu", [y], name + "_relu")
        raise SystemExit(f"unsupported fused activation {fused}")

    def same_pads(in_hw, k, s, padding):
        if padding == tflite.Padding.VALID:
            return [0, 0, 0, 0]
        pads_b, pads_e = [], []
        for n, kk, ss in zip(in_hw, k, s):
            out = -(-n // ss)
            total = max((out - 1) * ss + kk - n, 0)
            pads_b.append(total // 2)
            pads_e.append(total - total // 2)
        return pads_b + pads_e

    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        oc = model.OperatorCodes(op.OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        kind = op_names.get(code, str(code))
        ins = [int(i) for i in op.InputsAsNumpy()]
        out = int(op.OutputsAsNumpy()[0])
        oname = tname(out).replace("/", "_").replace(";", "_").replace(":", "_")
        opt = op.BuiltinOptions()

        if kind == "DEQUANTIZE":
            src = buffer(ins[0])
            if src is None:
                raise SystemExit("DEQUANTIZE of a non-constant")
            consts[out] = src.astype(np.float32)
            continue

        def const_of(i):
            if i in consts:
                return consts[i]
            b = buffer(i)
            if b is None:
                raise SystemExit(f"{tname(i)} is not a constant")
            return b.astype(np.float32) if b.dtype == np.float16 else b

        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            if kind == "CONV_2D":
                o = tflite.Conv2DOptions()
            else:
                o = tflite.DepthwiseConv2DOptions()
            o.Init(opt.Bytes, opt.Pos)
            if o.DilationHFactor() != 1 or o.DilationWFactor() != 1:
                raise SystemExit("dilated convolution")
            wt = const_of(ins[1])
            bias = const_of(ins[2]) if len(ins) > 2 and ins[2] >= 0 else None
            in_shape = tshape(ins[0])  # NHWC
            if kind == "CONV_2D":
                kernel = np.transpose(wt, (0, 3, 1, 2))  # [O,H,W,I] -> [O,I,H,W]
                group = 1
            else:
                if o.DepthMultiplier() != 1:
                    raise SystemExit("depth multiplier != 1")
                kernel = np.transpose(wt, (3, 0, 1, 2))  # [1,H,W,C] -> [C,1,H,W]
                group = in_shape[3]
            kh, kw = kernel.shape[2], kernel.shape[3]
            strides = [o.StrideH(), o.StrideW()]
            pads = same_pads(in_shape[1:3], [kh, kw], strides, o.Padding())
            inputs = [value(ins[0]), g.const(oname + "_w", kernel.astype(np.float32))]
            if bias is not None:
                inputs.append(g.const(oname + "_b", bias.astype(np.float32)))
            y = g.node(
                "Conv", inputs, oname + ("_conv" if o.FusedActivationFunction() else ""),
                kernel_shape=[kh, kw], strides=strides, pads=pads, group=group,
            )
            names[out] = activation(y, o.FusedActivationFunction(), oname)
        elif kind == "PRELU":
            alpha = const_of(ins[1])  # [1, 1, C]
            slope = alpha.reshape(-1, 1, 1).astype(np.float32)
            names[out] = g.node("PRelu", [value(ins[0]), g.const(oname + "_slope", slope)], oname)
        elif kind == "ADD":
            o = tflite.AddOptions()
            o.Init(opt.Bytes, opt.Pos)
            y = g.node("Add", [value(ins[0]), value(ins[1])],
                       oname + ("_add" if o.FusedActivationFunction() else ""))
            names[out] = activation(y, o.FusedActivationFunction(), oname)
        elif kind == "MAX_POOL_2D":
            o = tflite.Pool2DOptions()
            o.Init(opt.Bytes, opt.Pos)
            k2 = [o.FilterHeight(), o.FilterWidth()]
            strides = [o.StrideH(), o.StrideW()]
            pads = same_pads(tshape(ins[0])[1:3], k2, strides, o.Padding())
            y = g.node("MaxPool", [value(ins[0])], oname + ("_pool" if o.FusedActivationFunction() else ""),
                       kernel_shape=k2, strides=strides, pads=pads)
            names[out] = activation(y, o.FusedActivationFunction(), oname)
        elif kind == "PAD":
            p = const_of(ins[1]).astype(np.int64)  # [[n0,n1],[h0,h1],[w0,w1],[c0,c1]]
            nchw = [0, 3, 1, 2]
            pads = np.array([p[a][0] for a in nchw] + [p[a][1] for a in nchw], dtype=np.int64)
            names[out] = g.node("Pad", [value(ins[0]), g.const(oname + "_pads", pads)], oname)
        else:
            raise SystemExit(f"unsupported op {kind}")

    outputs = []
    out_specs = []
    for j in range(sg.OutputsLength()):
        i = sg.Outputs(j)
        shape = tshape(i)
        n = int(np.prod(shape))
        target = "landmarks" if n == 1404 else "face_flag"
        g.node("Reshape", [value(i), g.const(target + "_shape", np.array([1, n], dtype=np.int64))], target)
        outputs.append(target)
        out_specs.append(helper.make_tensor_value_info(target, TensorProto.FLOAT, [1, n]))
    if sorted(outputs) != ["face_flag", "landmarks"]:
        raise SystemExit(f"unexpected outputs {outputs}")
    in_shape = tshape(in_idx)
    graph = helper.make_graph(
        g.nodes,
        "mediapipe_face_landmark",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, in_shape[3], in_shape[1], in_shape[2]])],
        out_specs,
        initializer=g.inits,
    )
    return _model(
        graph,
        "MediaPipe face landmark (468 points, Apache-2.0), from npm @mediapipe/face_mesh "
        "face_landmark.tflite; float16 constants widened, NCHW",
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--face-api", required=True, help="unpacked @vladmandic/face-api package directory")
    ap.add_argument("--face-mesh", required=True, help="unpacked @mediapipe/face_mesh package directory")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--tflite-out", help="also write the extracted face_landmark.tflite here")
    a = ap.parse_args()

    dlib = build_dlib(
        f"{a.face_api}/model/face_recognition_model-weights_manifest.json",
        f"{a.face_api}/model/face_recognition_model.bin",
    )
    with open(f"{a.out}/dlib_face_recognition_resnet_v1.onnx", "wb") as f:
        f.write(dlib.SerializeToString())

    tfl = extract_packed(
        f"{a.face_mesh}/face_mesh_solution_packed_assets_loader.js",
        f"{a.face_mesh}/face_mesh_solution_packed_assets.data",
        "/face_landmark.tflite",
    )
    if a.tflite_out:
        with open(a.tflite_out, "wb") as f:
            f.write(tfl)
    mesh = build_face_mesh(tfl)
    with open(f"{a.out}/mediapipe_face_landmark.onnx", "wb") as f:
        f.write(mesh.SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
