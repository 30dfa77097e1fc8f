"""ONNX export: every exportable layer and activation, whole models, checked by ONNX Runtime.

For each model, ONNX Runtime's output on random inputs of two batch sizes (neither the traced
one) equals chainrule's to 1e-5 in float32, and onnx.checker (full_check) passes.
"""

import numpy as np
import pytest

import chainrule as cr

onnx = pytest.importorskip("onnx", reason="the [onnx] extra (onnx) is not installed")
ort = pytest.importorskip("onnxruntime", reason="the [onnx] extra (onnxruntime) is not installed")

from chainrule.onnx import ExportError, export, onnx_table  # noqa: E402
from chainrule.ops.define import primitive_table  # noqa: E402

nn = cr.nn


def _rand(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(0, 10, shape)


def _outputs(out):
    found, pending = [], [out]
    while pending:
        o = pending.pop(0)
        if isinstance(o, (tuple, list)):
            pending[:0] = list(o)
        else:
            found.append(o.numpy())
    return found


def check(model, shapes, dtypes=None, tol=1e-5, seed=0, batches=(1, 5)):
    """Export ``model`` traced on a batch of 3; compare with ONNX Runtime on ``batches``."""
    rng = np.random.default_rng(seed)
    dtypes = dtypes or [np.float32] * len(shapes)
    example = tuple(_rand(rng, (3, *s), d) for s, d in zip(shapes, dtypes))
    proto = export(model, example)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    model.eval()
    for n in batches:
        xs = [_rand(rng, (n, *s), d) for s, d in zip(shapes, dtypes)]
        with cr.no_grad():
            want = _outputs(model(*[cr.tensor(x) for x in xs]))
        got = sess.run(None, dict(zip(names, xs)))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    return proto


class _Two(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, a, b):
        return self.m(a, b)


class _SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.m = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        return self.m(x, x, x)[0]


# (name, module factory, per-sample input shapes, dtypes)
LAYERS = [
    ("Linear", lambda: nn.Linear(4, 3), [(4,)]),
    ("Linear3d", lambda: nn.Linear(4, 3), [(2, 4)]),
    ("LinearNoBias", lambda: nn.Linear(4, 3, bias=False), [(4,)]),
    ("Identity", lambda: nn.Identity(), [(4,)]),
    ("Dropout", lambda: nn.Dropout(0.5), [(4,)]),
    ("Flatten", lambda: nn.Flatten(), [(3, 4)]),
    ("Unflatten", lambda: nn.Unflatten(1, (2, 2)), [(4,)]),
    ("Embedding", lambda: nn.Embedding(10, 3), [(5,)], [np.int64]),
    ("EmbeddingPadding", lambda: nn.Embedding(10, 3, padding_idx=0), [(5,)], [np.int64]),
    ("LayerNorm", lambda: nn.LayerNorm(4), [(4,)]),
    ("LayerNorm2", lambda: nn.LayerNorm((3, 4), elementwise_affine=False), [(3, 4)]),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(4), [(4,)]),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(3), [(3, 4, 4)]),
    ("Conv1d", lambda: nn.Conv1d(3, 4, 3, padding=1), [(3, 8)]),
    ("Conv2d", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), [(3, 8, 8)]),
    ("Conv2dGroupsDilation", lambda: nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2,
                                               groups=2), [(4, 9, 9)]),
    ("Conv3d", lambda: nn.Conv3d(2, 2, 3), [(2, 5, 5, 5)]),
    ("ConvTranspose1d", lambda: nn.ConvTranspose1d(3, 2, 3), [(3, 4)]),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1,
                                                   output_padding=1, groups=2), [(4, 5, 5)]),
    ("MaxPool1d", lambda: nn.MaxPool1d(2), [(3, 8)]),
    ("MaxPool2d", lambda: nn.MaxPool2d(2), [(3, 8, 8)]),
    ("MaxPool2dCeilPad", lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), [(3, 8, 8)]),
    ("MaxPool3d", lambda: nn.MaxPool3d(2), [(3, 4, 4, 4)]),
    ("AvgPool1d", lambda: nn.AvgPool1d(2), [(3, 8)]),
    ("AvgPool2d", lambda: nn.AvgPool2d(2), [(3, 8, 8)]),
    ("AvgPool2dNoPadCount", lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False,
                                                 ceil_mode=True), [(3, 8, 8)]),
    ("AvgPool3d", lambda: nn.AvgPool3d(2), [(3, 4, 4, 4)]),
    ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d(1), [(3, 8, 8)]),
    ("AdaptiveAvgPool2dUneven", lambda: nn.AdaptiveAvgPool2d((3, 2)), [(3, 7, 5)]),
    ("Unfold", lambda: nn.Unfold(2), [(2, 4, 4)]),
    ("UnfoldStridePadDilation", lambda: nn.Unfold((2, 3), dilation=(2, 1), padding=1,
                                                  stride=(1, 2)), [(2, 5, 6)]),
    ("Fold", lambda: nn.Fold((4, 4), 2), [(8, 9)]),
    ("FoldStridePadDilation", lambda: nn.Fold((5, 6), (2, 3), dilation=(2, 1), padding=1,
                                              stride=(1, 2)), [(12, 15)]),
    ("PixelShuffle", lambda: nn.PixelShuffle(2), [(8, 3, 3)]),
    ("PixelUnshuffle", lambda: nn.PixelUnshuffle(2), [(2, 4, 4)]),
    ("ZeroPad2d", lambda: nn.ZeroPad2d(1), [(2, 3, 3)]),
    ("ConstantPad1d", lambda: nn.ConstantPad1d(1, 2.0), [(2, 3)]),
    ("ConstantPad3d", lambda: nn.ConstantPad3d(1, 0.5), [(2, 3, 3, 3)]),
    ("ReflectionPad1d", lambda: nn.ReflectionPad1d(2), [(2, 5)]),
    ("ReflectionPad2d", lambda: nn.ReflectionPad2d(1), [(2, 3, 3)]),
    ("ReflectionPad3d", lambda: nn.ReflectionPad3d(1), [(2, 3, 3, 3)]),
    ("ReplicationPad2d", lambda: nn.ReplicationPad2d(1), [(2, 3, 3)]),
    ("ReplicationPad3d", lambda: nn.ReplicationPad3d(1), [(2, 3, 3, 3)]),
    ("CircularPad2d", lambda: nn.CircularPad2d(1), [(2, 3, 3)]),
    ("UpsamplingNearest2d", lambda: nn.UpsamplingNearest2d(scale_factor=2), [(2, 3, 3)]),
    ("UpsamplingBilinear2d", lambda: nn.UpsamplingBilinear2d(scale_factor=2), [(2, 3, 3)]),
    ("UpsampleSize", lambda: nn.Upsample(size=(5, 7)), [(2, 3, 3)]),
    ("UpsampleArea", lambda: nn.Upsample(size=(2, 3), mode="area"), [(2, 4, 6)]),
    ("UpsampleTrilinear", lambda: nn.Upsample(scale_factor=2, mode="trilinear"), [(2, 3, 3, 3)]),
    ("UpsampleLinear", lambda: nn.Upsample(scale_factor=2, mode="linear", align_corners=True),
     [(2, 5)]),
    ("RNN", lambda: nn.RNN(3, 4, batch_first=True), [(5, 3)]),
    ("LSTM", lambda: nn.LSTM(3, 4, num_layers=2, batch_first=True), [(5, 3)]),
    ("GRU", lambda: nn.GRU(3, 4, batch_first=True, bidirectional=True), [(5, 3)]),
    ("RNNCell", lambda: nn.RNNCell(3, 4), [(3,)]),
    ("LSTMCell", lambda: nn.LSTMCell(3, 4), [(3,)]),
    ("GRUCell", lambda: nn.GRUCell(3, 4), [(3,)]),
    ("MultiheadAttention", _SelfAttention, [(5, 8)]),
    ("TransformerEncoderLayer", lambda: nn.TransformerEncoderLayer(8, 2, 16, batch_first=True),
     [(5, 8)]),
    ("CosineSimilarity", lambda: _Two(nn.CosineSimilarity(1)), [(4,), (4,)]),
    ("PairwiseDistance", lambda: _Two(nn.PairwiseDistance()), [(4,), (4,)]),
]  # fmt: skip

ACTIVATIONS = [
    nn.ReLU, nn.Tanh, nn.Sigmoid, nn.SiLU, nn.Mish, nn.ELU, nn.SELU, nn.CELU, nn.Hardtanh,
    nn.ReLU6, nn.Hardsigmoid, nn.Hardswish, nn.Softsign, nn.LogSigmoid, nn.GLU, nn.PReLU,
    nn.Softplus, nn.GELU,
    lambda: nn.LeakyReLU(0.1), lambda: nn.GELU("tanh"), lambda: nn.ELU(0.5),
    lambda: nn.CELU(2.0), lambda: nn.Hardtanh(-0.5, 2.0), lambda: nn.Softplus(2.0, 1.0),
    lambda: nn.Softmax(dim=1), lambda: nn.Softmax(dim=-1), lambda: nn.LogSoftmax(dim=1),
    lambda: nn.Softmin(dim=1), lambda: nn.PReLU(4),
]  # fmt: skip


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_onnxruntime(case):
    name, factory, shapes, *dtypes = case
    cr.manual_seed(0)
    check(factory(), shapes, dtypes[0] if dtypes else None)


@pytest.mark.parametrize("make", ACTIVATIONS, ids=range(len(ACTIVATIONS)))
def test_activation_matches_onnxruntime(make):
    cr.manual_seed(0)
    check(make(), [(4, 6)])


def test_activation_scale_inputs_cover_thresholds():
    # Softplus's threshold and ELU's kink are compared at run time, not frozen from the trace
    m = nn.Softplus(1.0, 2.0)
    proto = export(m, np.full((2, 4), -5.0, np.float32))
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.array([[-30.0, 1.9, 2.5, 40.0]], np.float32)
    got = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, m(cr.tensor(x)).numpy(), rtol=1e-6, atol=1e-6)
    assert got[0, 3] == 40.0


def _cnn():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.3), nn.Conv2d(8, 4, 3), nn.BatchNorm2d(4), nn.GELU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(4, 5), nn.LogSoftmax(dim=1),
    )  # fmt: skip


def test_whole_cnn_with_trained_batchnorm_statistics():
    cr.manual_seed(1)
    model = _cnn()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    for _ in range(3):  # moves the running statistics and the weights away from their init
        loss = model(cr.tensor(rng.standard_normal((6, 3, 8, 8)).astype(np.float32) * 2 + 1))
        loss = -loss[:, 0].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.training
    bn = model[1]
    assert float(np.abs(np.asarray(bn.running_mean)).max()) > 1e-3
    model[6].eval()  # a frozen BatchNorm inside a model in training mode
    export(model, np.ones((2, 3, 8, 8), np.float32))
    assert model.training and model[1].training and not model[6].training  # modes restored
    check(model, [(3, 8, 8)])


def test_whole_mlp():
    cr.manual_seed(2)
    model = nn.Sequential(
        nn.Linear(6, 16), nn.Tanh(), nn.Dropout(), nn.Linear(16, 16), nn.LayerNorm(16),
        nn.SiLU(), nn.Linear(16, 3), nn.Softmax(dim=1),
    )  # fmt: skip
    check(model, [(6,)])


class _Bag(nn.Module):
    """Embedding -> mean over the sequence -> MLP."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.head = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, idx):
        return self.head(self.emb(idx).mean(1))


def test_whole_embedding_model():
    cr.manual_seed(3)
    check(_Bag(), [(7,)], [np.int64])


def test_names_path_and_static_batch(tmp_path):
    model = nn.Linear(4, 2)
    x = np.ones((3, 4), np.float32)
    path = tmp_path / "m.onnx"
    export(model, x, path, input_names=["features"], output_names=["scores"],
           dynamic_batch=False)  # fmt: skip
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["features"]
    assert [o.name for o in proto.graph.output] == ["scores"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 3
    assert {i.name for i in proto.graph.initializer} >= {"weight", "bias"}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"features": x})[0], model(cr.tensor(x)).numpy(),
                               rtol=1e-6)  # fmt: skip


def test_missing_mapping_names_the_primitive():
    class Chol(nn.Module):
        def forward(self, x):
            return cr.linalg.cholesky(x @ x.swapaxes(1, 2) + cr.eye(3))

    assert "cholesky" in primitive_table and "cholesky" not in onnx_table
    with pytest.raises(ExportError, match="no ONNX mapping for primitive 'cholesky'"):
        export(Chol(), np.ones((2, 3, 3), np.float32))


def test_constant_computed_from_the_input_is_refused():
    class Mask(nn.Module):
        def forward(self, x):
            return cr.where(x > 0, x, x * 2)  # the comparison records nothing

    with pytest.raises(ExportError, match="primitive 'where'.*changes with the input"):
        export(Mask(), np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))


def test_control_flow_on_the_batch_is_refused():
    class Loop(nn.Module):
        def forward(self, x):
            for _ in range(x.shape[0]):
                x = x * 2
            return x

    with pytest.raises(ExportError, match="different graph"):
        export(Loop(), np.ones((2, 3), np.float32))


def test_table_names_are_primitives():
    import chainrule.distributed  # noqa: F401 - defines its primitives (all_reduce...)

    export_only = {"softplus_threshold"}
    assert set(onnx_table) - export_only <= set(primitive_table)


class _Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


_MASK = np.array([True, False, True, False])
# (name, function of one or two (batch, 3, 4) float32 tensors, number of inputs)
FUNCTIONS = [
    ("add_sub_mul_div", lambda x, y: (x + 1.5) * y - x / (y * y + 1), 2),
    ("power", lambda x: x**3 + 2.0**x, 1),
    ("maximum_minimum", lambda x, y: cr.maximum(x, y) - cr.minimum(x, 0.1), 2),
    ("unary", lambda x: cr.sin(x) + cr.cos(x) + cr.exp(x) + cr.sqrt(cr.abs(x))
     + cr.log1p(cr.abs(x)) + cr.expm1(x) + cr.log2(cr.abs(x) + 1) + cr.log10(cr.abs(x) + 1)
     + cr.rsqrt(cr.abs(x) + 1) + cr.square(x) + cr.reciprocal(x + 5) + cr.erf(x)
     + cr.arctan(x) + cr.sinh(x) + cr.tanh(x) + cr.exp2(x) + cr.floor(x) + cr.ceil(x), 1),
    ("fmod", lambda x, y: cr.fmod(x, y), 2),
    ("remainder", lambda x, y: cr.remainder(x, y), 2),
    ("trunc", lambda x: cr.trunc(x * 3), 1),
    ("hypot", lambda x, y: cr.hypot(x, y), 2),
    ("logaddexp", lambda x, y: cr.logaddexp(x, y), 2),
    ("lerp", lambda x, y: cr.lerp(x, y, 0.3) + cr.lerp(x, y, cr.sigmoid(y)), 2),
    ("nan_to_num", lambda x: cr.nan_to_num(cr.log(x)), 1),
    ("nansum_nanmean", lambda x: cr.nansum(cr.log(x), 1) + cr.nanmean(cr.log(x + 0.5), 1), 1),
    ("clip", lambda x, y: cr.clip(x, -0.5, 0.5) + cr.clip(x, y, None), 2),
    ("where", lambda x, y: cr.where(cr.tensor(_MASK), x, y), 2),
    ("masked_fill", lambda x: cr.masked_fill(x, cr.tensor(_MASK), 0.5), 1),
    ("sum_mean", lambda x: x.sum(1) + x.mean((1, 2), keepdims=True)[:, 0], 1),
    ("amax_amin_prod", lambda x: cr.amax(x, (1, 2)) + cr.amin(x, 1).sum(1)
     + cr.prod(x, 2)[:, 0], 1),
    ("var_std", lambda x: x.var(2) + x.std(2, ddof=1), 1),
    ("logsumexp", lambda x: cr.logsumexp(x, 2), 1),
    ("norm", lambda x: cr.norm(x, 1, axis=1) + cr.norm(x, 3, axis=1) + cr.norm(x, np.inf, axis=1)
     + cr.norm(x, axis=1), 1),
    ("cumsum", lambda x: cr.cumsum(x, 1), 1),
    ("tril_triu", lambda x: cr.tril(x) + cr.triu(x, 1), 1),
    ("tile", lambda x: cr.tile(x, (1, 2, 1)) + cr.tile(x[:, :1], (2,))[:, :, :4], 1),
    ("repeat", lambda x: cr.repeat(x, 2, 1), 1),
    ("roll", lambda x: cr.roll(x, 1, 2), 1),
    ("index_select", lambda x: cr.index_select(x, 2, cr.tensor([0, 2])), 1),
    ("einsum", lambda x, y: cr.einsum("bij,bkj->bik", x, y), 2),
    ("tensordot", lambda x, y: cr.tensordot(x, y, ([2], [2])), 2),
    ("outer", lambda x, y: cr.outer(x[0, 0], y[0, 0]), 2),
    ("sort_topk", lambda x: cr.sort(x, 2)[0] + cr.sort(x, 2, descending=True)[0]
     + cr.topk(x, 4, 2)[0], 1),
    ("getitem", lambda x: x[:, 1:, ::-2][:, None, 0, ...] + x[:, -1:, 1:2, None][..., 0], 1),
    ("shape_ops", lambda x: cr.swapaxes(x, 1, 2).transpose(0, 2, 1).reshape(-1, 12)
     .reshape(x.shape) + cr.broadcast_to(x[:, :1], x.shape) + cr.flip(x, 2), 1),
    ("squeeze_expand", lambda x: cr.squeeze(cr.expand_dims(x, 2), 2), 1),
    ("stack_concatenate", lambda x, y: cr.stack([x, y], 1).sum(1)
     + cr.concatenate([x, y], 2)[:, :, 2:6], 2),
    ("astype", lambda x: x.astype(np.float64) * 2, 1),
    ("matmul", lambda x, y: x @ y.swapaxes(1, 2), 2),
    ("softmax_log_softmax", lambda x: cr.softmax(x, 1) + cr.log_softmax(x, 2), 1),
]  # fmt: skip


@pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
@pytest.mark.parametrize("case", FUNCTIONS, ids=[c[0] for c in FUNCTIONS])
def test_primitive_matches_onnxruntime(case):
    _, fn, n = case
    check(_Fn(fn), [(3, 4)] * n)


def test_gather_with_a_constant_index_and_a_static_batch():
    index = np.array([[[3, 0, 1, 1]] * 3] * 2, dtype=np.int64)
    model = _Fn(lambda x: cr.gather(x, 2, cr.tensor(index)))
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    proto = export(model, x, dynamic_batch=False)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x2 = x[::-1].copy()
    np.testing.assert_array_equal(sess.run(None, {"input": x2})[0], model(cr.tensor(x2)).numpy())


def test_opset_18_and_float64():
    cr.manual_seed(4)
    model = nn.Sequential(
        nn.Linear(4, 8, dtype="float64"), nn.Tanh(), nn.Linear(8, 2, dtype="float64")
    )
    x = np.random.default_rng(0).standard_normal((3, 4))
    proto = export(model, x, opset=18)
    assert proto.opset_import[0].version == 18
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x})[0]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, model(cr.tensor(x)).numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="opset 16 is too old"):
        export(model, x, opset=16)


def test_bad_arguments_are_refused():
    model = nn.Linear(4, 2)
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="2 input_names for 1 example inputs"):
        export(model, x, input_names=["a", "b"])
    with pytest.raises(ValueError, match="0-d example input has no batch axis"):
        export(_Fn(lambda x: x * 2), np.float32(1.0))


def test_a_model_on_a_gpu_is_refused(monkeypatch):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "fake_cupy.py"
    spec = importlib.util.spec_from_file_location("_fake_cupy_for_onnx", path)
    fake_cupy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake_cupy)
    fake_cupy.install(monkeypatch)
    model = nn.Linear(3, 2).to("cuda")
    with pytest.raises(ExportError, match="parameter 'weight' is on a GPU"):
        export(model, np.ones((2, 3), np.float32))
