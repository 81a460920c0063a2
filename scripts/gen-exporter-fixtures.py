#!/usr/bin/env python3
"""Writes fixtures/exporters/: small models in the idioms real exporters produce, for tests
that must not pass only on PaddleOCR's idiom (weights in Constant nodes).

- torch_*: exported by PyTorch (Debian python3-torch). Untrained BatchNorms fold into Conv
  biases that are all zero, so the exporter deduplicates equal initializers and feeds them
  through Identity nodes — as a fresh torchvision ResNet-18 does. `_bn` keeps BatchNorm nodes
  (no constant folding): their weights/biases/statistics are Identity-shared too. `tied`
  reuses one Linear weight in a second, transposed layer.
- tf_style_nhwc_*: written with onnx.helper the way tf2onnx lays out a Keras model: NHWC
  input transposed to NCHW, weights stored HWIO and transposed by a node, a bias stored as
  float16 and Cast, a weight stored flat and Reshaped by a Constant shape, a MatMul weight
  behind Identity(Constant) — constant-only subgraphs — at opsets 9, 13 and 20.

Run: /usr/bin/python3 scripts/gen-exporter-fixtures.py (needs python3-torch and python3-onnx);
then update fixtures/exporters/manifest.json's sha256 (printed).
"""
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'exporters')


def torch_models():
    import torch
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(s, c_in, c_out, stride):
            super().__init__()
            s.c1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            s.b1 = nn.BatchNorm2d(c_out)
            s.c2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            s.b2 = nn.BatchNorm2d(c_out)
            s.sc = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)) if stride != 1 or c_in != c_out else nn.Identity()

        def forward(s, x):
            y = torch.relu(s.b1(s.c1(x)))
            return torch.relu(s.b2(s.c2(y)) + s.sc(x))

    class TinyResNet(nn.Module):
        def __init__(s):
            super().__init__()
            s.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
            s.l1 = Block(8, 8, 1)
            s.l2 = Block(8, 16, 2)
            s.l3 = Block(16, 16, 1)
            s.fc = nn.Linear(16, 10)

        def forward(s, x):
            return s.fc(s.l3(s.l2(s.l1(s.stem(x)))).mean((2, 3)))

    class Tied(nn.Module):
        def __init__(s):
            super().__init__()
            s.enc = nn.Linear(32, 12)
            s.mid = nn.Linear(12, 12)

        def forward(s, x):
            z = torch.tanh(s.enc(x))
            z = torch.relu(s.mid(z)) + z
            return torch.nn.functional.linear(z, s.enc.weight.t())  # decoder tied to the encoder

    torch.manual_seed(0)
    res = TinyResNet().eval()
    x = torch.randn(1, 3, 32, 32)
    for opset in (9, 13, 17):
        yield f'torch_resnet_tiny_op{opset}.onnx', res, x, opset, True, 'input', {'input': {0: 'N'}}
    yield 'torch_resnet_tiny_bn_op13.onnx', res, x, 13, False, 'input', {'input': {0: 'N'}}  # BatchNorm kept: see export_torch
    yield 'torch_tied_op13.onnx', Tied().eval(), torch.randn(1, 32), 13, True, 'x', {'x': {0: 'N'}}


def share_equal_initializers(m):
    """What PyTorch's exporter does to parameters with equal values (its initializer
    deduplication): keep the first, and feed each other name from it through an Identity node."""
    first = {}
    kept = []
    identities = []
    for t in m.graph.initializer:
        key = (t.data_type, tuple(t.dims), numpy_helper.to_array(t).tobytes())
        if key in first:
            identities.append(helper.make_node('Identity', [first[key]], [t.name], name=f'Identity_{len(identities)}'))
        else:
            first[key] = t.name
            kept.append(t)
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept)
    nodes = identities + list(m.graph.node)
    del m.graph.node[:]
    m.graph.node.extend(nodes)


def export_torch():
    import torch
    for name, model, x, opset, fold, input_name, dyn in torch_models():
        path = os.path.join(OUT, name)
        if fold:
            torch.onnx.export(model, x, path, opset_version=opset, do_constant_folding=True, input_names=[input_name], output_names=['logits'], dynamic_axes=dyn)
        else:
            # An eval-mode export always folds BatchNorm into Conv; a training-mode export keeps the
            # BatchNorm nodes (with Identity-shared weights and statistics), which are then turned
            # back into inference BatchNorms (training_mode=0, one output).
            torch.onnx.export(model, x, path, opset_version=opset, do_constant_folding=False, training=torch.onnx.TrainingMode.TRAINING, input_names=[input_name], output_names=['logits'], dynamic_axes=dyn)
            m = onnx.load(path)
            for n in m.graph.node:
                if n.op_type == 'BatchNormalization':
                    keep = [a for a in n.attribute if a.name != 'training_mode']
                    del n.attribute[:]
                    n.attribute.extend(keep)
                    del n.output[1:]
            share_equal_initializers(m)
            onnx.save(m, path)
        yield name


def tf_style(opset):
    rng = np.random.default_rng(opset)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32) * 0.3
    inits = []
    nodes = []

    def init(name, arr):
        inits.append(numpy_helper.from_array(arr, name))
        return name

    def const(name, arr):
        nodes.append(helper.make_node('Constant', [], [name], value=numpy_helper.from_array(arr, name + '_value')))
        return name

    def unsqueeze(x, axes, out):
        if opset >= 13:
            nodes.append(helper.make_node('Unsqueeze', [x, const(out + '_axes', np.array(axes, np.int64))], [out]))
        else:
            nodes.append(helper.make_node('Unsqueeze', [x], [out], axes=axes))
        return out

    # NHWC → NCHW
    nodes.append(helper.make_node('Transpose', ['images'], ['nchw'], perm=[0, 3, 1, 2]))
    # conv1: weight stored HWIO, transposed to OIHW by a node; bias stored float16 and Cast
    init('conv1/kernel_hwio', f32(3, 3, 3, 8))
    nodes.append(helper.make_node('Transpose', ['conv1/kernel_hwio'], ['conv1/kernel'], perm=[3, 2, 0, 1]))
    init('conv1/bias_f16', f32(8).astype(np.float16))
    nodes.append(helper.make_node('Cast', ['conv1/bias_f16'], ['conv1/bias'], to=TensorProto.FLOAT))
    nodes.append(helper.make_node('Conv', ['nchw', 'conv1/kernel', 'conv1/bias'], ['conv1'], pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node('Relu', ['conv1'], ['relu1']))
    # conv2: weight stored flat, reshaped by a Constant shape
    init('conv2/kernel_flat', f32(16 * 8 * 3 * 3))
    nodes.append(helper.make_node('Reshape', ['conv2/kernel_flat', const('conv2/kernel_shape', np.array([16, 8, 3, 3], np.int64))], ['conv2/kernel']))
    nodes.append(helper.make_node('Conv', ['relu1', 'conv2/kernel'], ['conv2'], pads=[1, 1, 1, 1], strides=[2, 2]))
    # a per-channel scale computed from weights only: Mul(Unsqueeze(init), Constant)
    init('scale/gamma', (1 + 0.1 * f32(16)).astype(np.float32))
    unsqueeze('scale/gamma', [1, 2], 'scale/gamma_chw')
    nodes.append(helper.make_node('Mul', ['scale/gamma_chw', const('scale/two', np.array(2.0, np.float32))], ['scale/gamma2']))
    nodes.append(helper.make_node('Mul', ['conv2', 'scale/gamma2'], ['scaled']))
    nodes.append(helper.make_node('Relu', ['scaled'], ['relu2']))
    # back to NHWC, global mean over H, W, flatten
    nodes.append(helper.make_node('Transpose', ['relu2'], ['nhwc'], perm=[0, 2, 3, 1]))
    if opset >= 18:
        nodes.append(helper.make_node('ReduceMean', ['nhwc', const('pool/axes', np.array([1, 2], np.int64))], ['pooled'], keepdims=0))
    else:
        nodes.append(helper.make_node('ReduceMean', ['nhwc'], ['pooled'], axes=[1, 2], keepdims=0))
    # dense: MatMul weight behind Identity(Constant); bias Identity(initializer) shared with a second use
    const('dense/kernel_const', f32(16, 10))
    nodes.append(helper.make_node('Identity', ['dense/kernel_const'], ['dense/kernel']))
    init('dense/bias', f32(10))
    nodes.append(helper.make_node('Identity', ['dense/bias'], ['dense/bias_read']))
    nodes.append(helper.make_node('MatMul', ['pooled', 'dense/kernel'], ['dense']))
    nodes.append(helper.make_node('Add', ['dense', 'dense/bias_read'], ['logits']))
    for i, n in enumerate(nodes):
        n.name = f'{n.op_type}_{i}'  # tf2onnx names every node
    graph = helper.make_graph(
        nodes,
        'tf_style_nhwc',
        [helper.make_tensor_value_info('images', TensorProto.FLOAT, ['N', 24, 24, 3])],
        [helper.make_tensor_value_info('logits', TensorProto.FLOAT, ['N', 10])],
        inits,
    )
    ir = {9: 4, 13: 7, 20: 9}[opset]
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)], ir_version=ir, producer_name='tf2onnx-style (splitc fixture generator)')
    if opset <= onnx.defs.onnx_opset_version():
        onnx.checker.check_model(model)  # (an older onnx cannot check opset 20; onnxruntime runs it in the tests)
    return model


def main():
    os.makedirs(OUT, exist_ok=True)
    names = list(export_torch())
    for opset in (9, 13, 20):
        name = f'tf_style_nhwc_op{opset}.onnx'
        onnx.save(tf_style(opset), os.path.join(OUT, name))
        names.append(name)
    for name in names:
        data = open(os.path.join(OUT, name), 'rb').read()
        print(json.dumps({'file': name, 'sha256': hashlib.sha256(data).hexdigest(), 'bytes': len(data)}))


if __name__ == '__main__':
    sys.exit(main())
