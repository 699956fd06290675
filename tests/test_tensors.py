"""Tensors of other libraries rotated in place: any object with __dlpack__ (stubs that export
NumPy memory stand for other libraries and for devices this machine lacks), torch tensors and
ml_dtypes' bfloat16 arrays. Each is rotated through a view of its own memory, with the same
bits as a NumPy array of the same values, and bad ones are refused before anything is written."""
import gc
import weakref

import numpy as np
import pytest

import rope
from rope import _core

from conftest import BFLOAT16, random_array, widened

DTYPES = [np.float16, np.float32, np.float64]


class Exporter:
    """A tensor of some library, seen only through DLPack: `array`'s memory, exported by NumPy
    (versioned, or the older protocol without max_version and copy), on `device`."""

    def __init__(self, array, device=(1, 0), versioned=True):
        self.array, self.device, self.versioned = array, device, versioned
        self.exports = 0

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        if not self.versioned and (max_version is not None or copy is not None):
            raise TypeError("__dlpack__() got an unexpected keyword argument 'max_version'")
        self.exports += 1
        return self.array.__dlpack__(stream=stream, max_version=max_version, copy=copy)


def rotated_copy(x, pos, **kwargs):
    """What rope.apply makes of an ndarray holding x's values."""
    return rope.apply(np.array(x, copy=True), pos, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES)  # bfloat16: NumPy cannot export it; torch below
@pytest.mark.parametrize("versioned", [True, False])
def test_any_dlpack_tensor_is_rotated_in_its_own_memory(dtype, versioned):
    memory = random_array((6, 2, 16), dtype)
    expected = rotated_copy(memory, 3, layout="shd")
    tensor = Exporter(memory, versioned=versioned)
    assert rope.apply(tensor, 3, layout="shd") is tensor
    np.testing.assert_array_equal(memory, expected)
    assert tensor.exports == 1


VIEWS = {"every other": lambda a: a[..., ::2], "rows with gaps": lambda a: a[:, 0, :, :16],
         "transposed": lambda a: a[:, :, 0, :].transpose(1, 0, 2)}


@pytest.mark.parametrize("view", list(VIEWS))
def test_strided_tensor_views_rotate_only_their_elements(view):
    whole = random_array((8, 3, 2, 32), np.float32)
    part = VIEWS[view](whole)
    before = whole.copy()
    expected = rope.apply(part.copy(), 5, seq_axis=-2)
    rope.apply(Exporter(part), 5, seq_axis=-2)
    np.testing.assert_array_equal(part, expected)
    outside = np.ones(whole.shape, bool)
    VIEWS[view](outside)[...] = False
    np.testing.assert_array_equal(whole[outside], before[outside])


def test_the_view_hands_the_tensor_back():
    # The view owns the exported tensor and releases it when it dies: NumPy's exporter then
    # lets go of its array.
    memory = random_array((4, 8), np.float32)
    alive = weakref.ref(memory)
    view = _core.dlpack_view(memory.__dlpack__(max_version=(1, 0)), "x")
    del memory
    gc.collect()
    assert alive() is not None        # held by the view
    view[...] = 0
    del view
    gc.collect()
    assert alive() is None


def test_a_capsule_is_read_once():
    capsule = np.zeros(4, np.float32).__dlpack__()
    _core.dlpack_view(capsule, "x")
    with pytest.raises(TypeError, match="not a DLPack capsule"):
        _core.dlpack_view(capsule, "x")


@pytest.mark.parametrize("device, name", [((2, 0), "CUDA device 0"), ((10, 1), "ROCm device 1"),
                                          ((8, 0), "Metal"), ((99, 0), "DLPack device type 99")])
def test_tensor_outside_cpu_memory_is_refused_before_export(device, name):
    memory = random_array((4, 8), np.float32)
    tensor = Exporter(memory, device=device)
    before = memory.copy()
    with pytest.raises(ValueError, match=f"{name}.*CPU memory"):
        rope.apply(tensor, 0)
    with pytest.raises(ValueError, match="CPU memory"):
        rope.apply(np.zeros((4, 8), np.float32), 0, out=tensor)
    assert tensor.exports == 0
    np.testing.assert_array_equal(memory, before)


def test_read_only_tensor_is_refused_and_can_be_rotated_into_out():
    # A read-only exporter (JAX's arrays) says so in its capsule's flags.
    memory = random_array((4, 8), np.float32)
    memory.flags.writeable = False
    before = memory.copy()
    with pytest.raises(ValueError, match="read-only.*out="):
        rope.apply(Exporter(memory), 0)
    np.testing.assert_array_equal(memory, before)
    out = np.empty_like(memory)
    assert rope.apply(Exporter(memory), 2, out=out) is out
    np.testing.assert_array_equal(out, rotated_copy(memory, 2))
    # DLPack before 1.0 cannot say read-only: NumPy refuses to export, and rope says why
    with pytest.raises(ValueError, match="cannot lend rope its memory.*readonly"):
        rope.apply(Exporter(memory, versioned=False), 0)


@pytest.mark.parametrize("dtype, name", [(np.int16, "int16"), (np.uint8, "uint8"),
                                         (np.complex64, "complex64"), (np.bool_, "bool8")])
def test_tensor_of_another_type_is_refused(dtype, name):
    with pytest.raises(TypeError, match=f"x holds {name} data; rope rotates float16, bfloat16"):
        rope.apply(Exporter(np.zeros((2, 8), dtype)), 0)


def test_plain_uint16_is_not_bfloat16():
    # rope's loops read its own uint16 dtype as bfloat16; any other uint16 array is refused.
    x = np.arange(16, dtype=np.uint16).reshape(2, 8)
    c, s = rope.cos_sin(np.arange(2), rope.frequencies(8), dtype=np.float32)
    with pytest.raises(TypeError, match="dtype uint16"):
        rope.apply(x, 0)
    with pytest.raises(TypeError, match="dtype uint16"):
        rope.rotate(x, c, s)
    with pytest.raises(TypeError, match="dtype uint16"):
        rope.rotate(x.view(BFLOAT16), c, s, out=np.zeros_like(x))
    np.testing.assert_array_equal(x, np.arange(16).reshape(2, 8))


def test_not_an_array_is_refused_by_name():
    with pytest.raises(TypeError, match="NumPy array or a tensor with __dlpack__"):
        rope.apply([[1.0, 0.0]], 0)
    with pytest.raises(TypeError, match="has __dlpack__ but no __dlpack_device__"):
        rope.apply(type("Half", (), {"__dlpack__": lambda self: None})(), 0)


# ---- ml_dtypes bfloat16 ----------------------------------------------------------------------

def test_ml_dtypes_bfloat16_array_in_place():
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="needs ml_dtypes (pip install ml_dtypes)")
    bits = random_array((5, 3, 64), BFLOAT16)
    x = bits.view(ml_dtypes.bfloat16)
    expected = rope.apply(bits.copy(), 7, layout="shd")
    assert rope.apply(x, 7, layout="shd") is x
    np.testing.assert_array_equal(x.view(np.uint16), expected.view(np.uint16))
    # and one token, through the decode path; and rope.Rope
    token, expected = x[:1].copy(), rope.apply(bits[:1].copy(), 4096, layout="shd")
    assert rope.Rope(64).apply(token, 4096, layout="shd") is token
    np.testing.assert_array_equal(token.view(np.uint16), expected.view(np.uint16))


def test_ml_dtypes_bfloat16_with_the_rotate_gufuncs():
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="needs ml_dtypes (pip install ml_dtypes)")
    x = random_array((4, 16), BFLOAT16).view(ml_dtypes.bfloat16)
    c, s = rope.cos_sin(np.arange(4)[:, None], rope.frequencies(16), dtype=np.float32)
    for rotate in (rope.rotate, rope.rotate_interleaved):
        got = rotate(x, c[:, 0], s[:, 0])
        assert got.dtype == ml_dtypes.bfloat16
        want = rotate(x.view(BFLOAT16), c[:, 0], s[:, 0])
        np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
        out = np.empty_like(x)
        assert rotate(x, c[:, 0], s[:, 0], out=out) is out
        np.testing.assert_array_equal(out.view(np.uint16), want.view(np.uint16))


# ---- torch -------------------------------------------------------------------------------------

def torch_or_skip():
    return pytest.importorskip("torch", reason="needs torch (pip install torch==2.13.0)")


def torch_dtype(torch, dtype):
    return {np.float16: torch.float16, np.float32: torch.float32, np.float64: torch.float64,
            BFLOAT16: torch.bfloat16}[dtype if dtype is BFLOAT16 else np.dtype(dtype).type]


def as_numpy(t):
    """A torch tensor's values as rope holds them (bfloat16 as BFLOAT16 bits), copied."""
    import torch
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16).view(BFLOAT16).copy()
    return t.numpy().copy()


def as_torch(torch, x):
    if x.dtype is BFLOAT16:
        return torch.from_numpy(x.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(x.copy())


def torch_view(torch, view, dtype, seq=9, heads=4, dim=64):
    """(the whole tensor, the view of it to rotate, the view's layout)."""
    if view == "contiguous":
        whole = as_torch(torch, random_array((seq, heads, dim), dtype))
        return whole, whole, "shd"
    if view == "q of a fused qkv":  # (seq, (q, k, v) heads dim): q is every third block
        whole = as_torch(torch, random_array((seq, 3 * heads * dim), dtype))
        return whole, whole[:, :heads * dim].view(seq, heads, dim), "shd"
    if view == "every other":
        whole = as_torch(torch, random_array((seq, heads, 2 * dim), dtype))
        return whole, whole[..., ::2], "shd"
    whole = as_torch(torch, random_array((1, seq, heads, dim), dtype))  # bshd, seen as bhsd
    return whole, whole.transpose(1, 2), "bhsd"


@pytest.mark.parametrize("dtype", DTYPES + [BFLOAT16])
@pytest.mark.parametrize("view", ["contiguous", "q of a fused qkv", "every other", "bshd as bhsd"])
@pytest.mark.parametrize("interleaved", [False, True])
def test_torch_tensor_rotated_in_place(dtype, view, interleaved):
    torch = torch_or_skip()
    config = rope.Rope(64, interleaved=interleaved)
    for apply in ("rope.apply", "Rope.apply"):
        whole, q, layout = torch_view(torch, view, dtype)
        assert view == "contiguous" or not q.is_contiguous()
        before = as_numpy(whole)
        expected = rope.apply(as_numpy(q), 11, layout=layout, interleaved=interleaved)
        if apply == "rope.apply":
            assert rope.apply(q, 11, layout=layout, interleaved=interleaved) is q
        else:
            assert config.apply(q, 11, layout=layout) is q
        np.testing.assert_array_equal(as_numpy(q), expected)
        rest = as_numpy(whole)
        if view == "q of a fused qkv":  # k and v as they were
            np.testing.assert_array_equal(rest[:, 4 * 64:], before[:, 4 * 64:])
        if view == "every other":
            np.testing.assert_array_equal(rest[..., 1::2], before[..., 1::2])


@pytest.mark.parametrize("dtype", DTYPES + [BFLOAT16])
def test_torch_decode_step_is_the_general_path(dtype):
    # One token of (1, 32, 128) takes the decode fast path: the same bits as the same token
    # rotated as part of a longer call.
    torch = torch_or_skip()
    values = random_array((3, 32, 128), dtype)
    t = as_torch(torch, values[1:2])
    general = rope.apply(values.copy(), 4095, layout="shd")
    assert rope.apply(t, 4096, layout="shd") is t
    np.testing.assert_array_equal(as_numpy(t), general[1:2])


def test_torch_tensor_refused_with_what_to_do():
    torch = torch_or_skip()
    grad = torch.ones(2, 8, requires_grad=True)
    with pytest.raises(ValueError, match="require.*grad.*detach"):
        rope.apply(grad, 1)
    assert torch.equal(grad.detach(), torch.ones(2, 8))
    for t in (torch.ones(2, 8, dtype=torch.int32), torch.ones(2, 8, dtype=torch.complex64)):
        with pytest.raises(TypeError, match="rope rotates float16, bfloat16, float32 and float64"):
            rope.apply(t, 1)
    with pytest.raises(TypeError, match="bfloat16 tensor.*out="):
        rope.rotate(torch.ones(2, 8, dtype=torch.bfloat16), *rope.cos_sin(1, np.ones(4)))


def test_torch_with_threads_and_the_rotate_gufuncs():
    torch = torch_or_skip()
    t = as_torch(torch, random_array((256, 16, 128), np.float32))  # 2 MiB: two threads
    expected = rope.apply(as_numpy(t), 0, layout="shd")
    assert rope.apply(t, 0, layout="shd", threads=2) is t
    np.testing.assert_array_equal(as_numpy(t), expected)
    c, s = rope.cos_sin(np.arange(256)[:, None], rope.frequencies(128))
    x = as_torch(torch, random_array((256, 16, 128), np.float32))
    want = rope.rotate(as_numpy(x), c, s)
    assert rope.rotate(x, c, s, out=x) is x
    np.testing.assert_array_equal(as_numpy(x), want)
    np.testing.assert_array_equal(rope.rotate_interleaved(x, c, s),
                                  rope.rotate_interleaved(as_numpy(x), c, s))


@pytest.mark.parametrize("dtype", [np.float16, BFLOAT16])
@pytest.mark.parametrize("seq_start", [0, 1000])
def test_torch_parity_with_transformers_apply_rotary_pos_emb(dtype, seq_start):
    # transformers rotates 16-bit q and k in their own dtype: cos and sin rounded to it, each
    # product and the sum rounded again (a few ulps). rope computes in float32 with exact tables
    # and rounds once: within one ulp of the float64 rotation, and within transformers' own
    # error of transformers.
    torch = torch_or_skip()
    llama = pytest.importorskip("transformers.models.llama.modeling_llama",
                                reason="needs transformers")
    transformers = pytest.importorskip("transformers")
    batch, heads, seq, dim = 2, 4, 32, 128
    config = transformers.LlamaConfig(hidden_size=heads * dim, num_attention_heads=heads,
                                      head_dim=dim, rope_theta=10000.0)
    q = as_torch(torch, random_array((batch, heads, seq, dim), dtype, seed=1))
    k = as_torch(torch, random_array((batch, heads, seq, dim), dtype, seed=2))
    position_ids = torch.arange(seq_start, seq_start + seq).repeat(batch, 1)
    cos, sin = llama.LlamaRotaryEmbedding(config=config)(q, position_ids)
    hf_q, hf_k = llama.apply_rotary_pos_emb(q, k, cos, sin)
    exact = [rope.reference.rotate(widened(as_numpy(t)).astype(np.float64),
                                   position_ids.numpy()[:, None, :], rope.frequencies(dim))
             for t in (q, k)]
    r = rope.Rope.from_hf_config(config)
    for t, hf, want in zip((q, k), (hf_q, hf_k), exact):
        assert r.apply(t, position_ids.numpy(), layout="bhsd") is t
        got, theirs = widened(as_numpy(t)), widened(as_numpy(hf))
        ulp = np.spacing(np.abs(want).max(axis=-1, keepdims=True).astype(np.float32))
        ulp = ulp * (2.0**16 if dtype is BFLOAT16 else 2.0**13)  # of the 16-bit type
        assert np.all(np.abs(got - want) <= ulp)
        assert np.all(np.abs(got - theirs) <= 4 * ulp)
        assert np.abs(got - want).mean() < np.abs(theirs - want).mean()


@pytest.mark.parametrize("position", [2**20 - 3, 2**31 + 11, 10**12 + 1])
def test_torch_bfloat16_exact_at_long_positions(position):
    # Against mpmath, by way of test_bfloat16's oracle.
    torch = torch_or_skip()
    from test_bfloat16 import exact_rotation
    theta = rope.frequencies(128)
    t = as_torch(torch, random_array((2, 128), BFLOAT16, seed=3))
    want = exact_rotation(widened(as_numpy(t)), position, theta, False)
    rope.apply(t, np.full(2, position))
    ulp = 2.0 ** (np.floor(np.log2(np.abs(want).max())) - 7)
    assert np.abs(widened(as_numpy(t)) - want).max() <= ulp
