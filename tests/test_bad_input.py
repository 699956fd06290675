"""Bad input: every case raises TypeError or ValueError naming the argument and the fix, and
leaves every input array byte-identical.

The matrix runs in one child process (this file run as a script), so a crash in C fails the
cases instead of killing pytest: the child announces each case before running it, and the
cases from the one that was running on fail with the child's exit status and stderr.
"""
from __future__ import annotations

import json
import math
import os
import reprlib
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import rope
from rope import reference

HERE = Path(__file__).resolve()
# Child processes import the rope this process imported (an installed one, or an in-place build).
_ROPE_ROOT = str(Path(rope.__file__).resolve().parent.parent)
CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (_ROPE_ROOT, os.environ.get("PYTHONPATH")) if p)}


def _x(shape=(4, 8), dtype=np.float32):
    return np.random.default_rng(1).standard_normal(shape).astype(dtype)


def _tables(k=4, dtype=np.float64):
    return rope.cos_sin(np.arange(3), rope.frequencies(2 * k), dtype=dtype)


def _readonly(a):
    a.flags.writeable = False
    return a


# Each case: name -> (build, expected exception, words the message must contain). `build`
# returns (call, inputs): `call()` must raise; every array in `inputs` is compared byte for
# byte before and after.
def _apply(x, pos=0, **kw):
    return (lambda: rope.apply(x, pos, **kw)), [x, pos]


def _rotate(fn, x, c, s, **kw):
    return (lambda: fn(x, c, s, **kw)), [x, c, s] + ([kw["out"]] if "out" in kw else [])


CASES = {
    # x: not an array, wrong dtype, layout or writeability
    "x list": (lambda: _apply([[1.0, 0.0]] * 4), TypeError, ["x", "NumPy array", "in place", "np.asarray"]),
    "x python float": (lambda: _apply(1.0), TypeError, ["x", "NumPy array", "np.asarray"]),
    "x numpy scalar": (lambda: _apply(np.float32(1.0)), TypeError, ["x", "NumPy array", "np.asarray"]),
    "x 0-d array": (lambda: _apply(np.array(1.0)), ValueError, ["x", "0-d", "head dimension"]),
    "x int64": (lambda: _apply(np.ones((4, 8), np.int64)), TypeError, ["x", "int64", "astype"]),
    "x int8": (lambda: _apply(np.ones((4, 8), np.int8)), TypeError, ["x", "int8", "astype"]),
    "x bool": (lambda: _apply(np.ones((4, 8), bool)), TypeError, ["x", "bool", "astype"]),
    "x complex": (lambda: _apply(np.ones((4, 8), np.complex64)), TypeError, ["x", "complex64", "astype"]),
    "x object": (lambda: _apply(np.ones((4, 8), object)), TypeError, ["x", "object", "astype"]),
    "x structured": (lambda: _apply(np.zeros((4, 8), [("a", "<f4")])), TypeError, ["x", "astype"]),
    "x structured float": (lambda: _apply(np.zeros((4,), [("a", "<f4", (8,))])), TypeError, ["x", "astype"]),
    "x longdouble": (lambda: _apply(np.ones((4, 8), np.longdouble)), TypeError, ["x", "astype(np.float32)"]),
    "x byte-swapped f4": (lambda: _apply(_x(dtype=">f4")), TypeError, ["x", "byte order", "newbyteorder"]),
    "x byte-swapped f2": (lambda: _apply(_x(dtype=">f2")), TypeError, ["x", "byte order", "newbyteorder"]),
    "x byte-swapped f8 view": (lambda: _apply(_x(dtype=">f8")[:, ::2]), TypeError, ["x", "byte order"]),
    "x read-only": (lambda: _apply(_readonly(_x())), ValueError, ["x", "read-only", "copy()"]),
    "x read-only view": (lambda: _apply(_readonly(_x())[1:, :]), ValueError, ["x", "read-only", "copy()"]),
    "x broadcast view": (lambda: _apply(np.broadcast_to(_x((1, 8)), (4, 8))), ValueError, ["x", "read-only"]),
    "x from bytes": (lambda: _apply(np.frombuffer(bytes(64), np.float32).reshape(2, 8)), ValueError, ["x", "read-only"]),
    "x writeable zero stride": (
        lambda: _apply(np.lib.stride_tricks.as_strided(_x((1, 8)), (4, 8), (0, 4), writeable=True)),
        ValueError, ["x", "stride 0", "copy()"]),
    "x np.matrix": (lambda: _apply(np.matrix(_x())), TypeError, ["x", "np.matrix", "np.asarray"]),
    "x masked array": (lambda: _apply(np.ma.masked_array(_x(), mask=np.zeros((4, 8), bool))), TypeError,
                       ["x", "masked", ".data"]),
    "x odd head dim": (lambda: _apply(_x((4, 7))), ValueError, ["head dimension", "7", "odd", "rotary_dim"]),
    "x odd huge head dim": (lambda: _apply(_x((1, 2**20 + 1))), ValueError, ["head dimension", "odd", "rotary_dim"]),
    "x empty head dim": (lambda: _apply(_x((4, 0))), ValueError, ["x", "head dimension 0", "last axis"]),
    # rotary_dim
    "rotary_dim odd": (lambda: _apply(_x(), rotary_dim=3), ValueError, ["rotary_dim", "even", "3"]),
    "rotary_dim > head dim": (lambda: _apply(_x(), rotary_dim=10), ValueError, ["rotary_dim=10", "<= 8"]),
    "rotary_dim 0": (lambda: _apply(_x(), rotary_dim=0), ValueError, ["rotary_dim", ">= 1"]),
    "rotary_dim negative": (lambda: _apply(_x(), rotary_dim=-2), ValueError, ["rotary_dim", ">= 1"]),
    "rotary_dim float": (lambda: _apply(_x(), rotary_dim=4.0), TypeError, ["rotary_dim", "integer"]),
    "rotary_dim bool": (lambda: _apply(_x(), rotary_dim=True), TypeError, ["rotary_dim", "integer"]),
    # pos: dtype
    "pos float16": (lambda: _apply(_x(), np.arange(4, dtype=np.float16)), TypeError, ["pos", "float16", "int64"]),
    "pos complex": (lambda: _apply(_x(), np.arange(4) + 0j), TypeError, ["pos", "complex128", "np.arange"]),
    "pos object": (lambda: _apply(_x(), np.arange(4).astype(object)), TypeError, ["pos", "object", "integers"]),
    "pos bool array": (lambda: _apply(_x(), np.ones(4, bool)), TypeError, ["pos", "bool", "integers"]),
    "pos bool": (lambda: _apply(_x(), True), TypeError, ["pos=True", "pass an int"]),
    "pos None": (lambda: _apply(_x(), None), TypeError, ["pos", "integers"]),
    "pos str": (lambda: _apply(_x(), "0"), TypeError, ["pos='0'", "pass an int"]),
    "pos float": (lambda: _apply(_x(), 1.5), TypeError, ["pos=1.5", "float64 array"]),
    "pos ragged list": (lambda: _apply(_x(), [[0, 1], [2]]), TypeError, ["pos", "array of positions"]),
    # pos: shape
    "pos wrong length": (lambda: _apply(_x(), np.arange(5)), ValueError, ["pos has 5 positions", "x has 4"]),
    "pos wrong 2-d": (lambda: _apply(_x((2, 4, 8)), np.zeros((3, 1), np.int64)), ValueError,
                      ["pos of shape (3, 1)", "broadcast to x.shape[:-1]"]),
    "pos broadcasts larger than x": (lambda: _apply(_x((1, 4, 8)), np.zeros((3, 4), np.int64)), ValueError,
                                     ["pos of shape (3, 4)", "more vectors than x has"]),
    "pos too many dims": (lambda: _apply(_x(), np.zeros((4, 1, 1), np.int64)), ValueError,
                          ["pos has shape (4, 1, 1)", "more dimensions"]),
    "pos array for one vector": (lambda: _apply(_x((8,)), np.arange(3)), ValueError, ["pos", "int position"]),
    "pos empty for non-empty x": (lambda: _apply(_x(), np.arange(0)), ValueError, ["pos has 0 positions", "x has 4"]),
    "pos of shape (1,)": (lambda: _apply(_x(), np.array([3])), ValueError,
                          ["pos has 1 position", "pass the int p", "np.full(4, p)"]),
    "pos 0-d array": (lambda: _apply(_x(), np.array(3)), ValueError, ["0-d array", "int(pos)"]),
    # pos: which axis is the sequence
    "pos int, 3-d x, no layout": (lambda: _apply(_x((4, 2, 8)), 0), ValueError,
                                  ["x has shape (4, 2, 8)", "layout=", "'bshd'", "seq_axis="]),
    "pos 1-d, 4-d x, no layout": (lambda: _apply(_x((1, 2, 4, 8)), np.arange(4)), ValueError,
                                  ["1-d pos", "layout="]),
    "pos (batch, seq), wrong batch": (lambda: _apply(_x((2, 3, 4, 8)), np.zeros((3, 4), np.int64), layout="bhsd"),
                                      ValueError, ["(batch..., seq)", "3 entries where x has 2"]),
    "pos (batch, seq), seq first": (lambda: _apply(_x((4, 2, 3, 8)), np.zeros((2, 4), np.int64), layout="sbhd"),
                                    ValueError, ["(batch..., seq)", "no room"]),
    "pos int on packed tokens": (lambda: _apply(_x((4, 2, 8)), 0, layout="thd"), ValueError,
                                 ["packed", "rope.packed_positions"]),
    "layout unknown letter": (lambda: _apply(_x((2, 3, 4, 8)), 0, layout="bxsd"), ValueError,
                              ["layout='bxsd'", "letters"]),
    "layout without d last": (lambda: _apply(_x((2, 3, 4, 8)), 0, layout="bhds"), ValueError,
                              ["layout='bhds'", "last"]),
    "layout wrong ndim": (lambda: _apply(_x(), 0, layout="bhsd"), ValueError,
                          ["layout='bhsd'", "names 4 axes", "x has 2"]),
    "layout and seq_axis": (lambda: _apply(_x((2, 3, 4, 8)), 0, layout="bhsd", seq_axis=-2), TypeError,
                            ["layout=", "seq_axis=", "not both"]),
    "layout not a string": (lambda: _apply(_x(), 0, layout=2), TypeError, ["layout", "string"]),
    # M-RoPE
    "mrope pos rows": (lambda: _apply(_x(), np.zeros((2, 4), np.int64), mrope_section=[1, 1, 2]),
                       ValueError, ["pos has shape (2, 4)", "3 rows"]),
    "mrope section sum": (lambda: _apply(_x(), 0, mrope_section=[1, 1]), ValueError,
                          ["mrope_section [1, 1]", "counts 2 pairs", "has 4"]),
    "mrope section not a list": (lambda: _apply(_x(), 0, mrope_section=4), TypeError, ["mrope_section", "list"]),
    "mrope interleaved without section": (lambda: _apply(_x(), 0, mrope_interleaved=True), TypeError,
                                          ["mrope_interleaved", "mrope_section"]),
    # pos: values
    "pos NaN": (lambda: _apply(_x(), np.array([0, 1, np.nan, 3])), ValueError, ["pos", "NaN", "finite"]),
    "pos inf": (lambda: _apply(_x(), np.array([0, 1, np.inf, 3])), ValueError, ["pos", "infinite", "finite"]),
    "pos -inf float32": (lambda: _apply(_x(), np.array([0, -np.inf, 2, 3], np.float32)), ValueError, ["pos", "finite"]),
    "pos offset past 2**53": (lambda: _apply(_x(), rope.MAX_POSITION - 2), ValueError, ["pos=", "2**53"]),
    "pos offset below -2**53": (lambda: _apply(_x(), -rope.MAX_POSITION - 1), ValueError, ["pos=", "2**53"]),
    "pos array past 2**53": (lambda: _apply(_x(), np.array([0, 1, 2, rope.MAX_POSITION + 1])), ValueError,
                             ["pos", "2**53", "exact"]),
    "pos float64 past 2**53": (lambda: _apply(_x(), np.array([0.0, 1.0, 2.0, 2.0**60])), ValueError,
                               ["pos", "2**53"]),
    "pos uint64 max": (lambda: _apply(_x(), np.full(4, 2**64 - 1, np.uint64)), ValueError, ["pos", "2**53"]),
    "pos numpy uint64 offset": (lambda: _apply(_x(), np.uint64(2**63)), ValueError, ["pos=", "2**53"]),
    # base
    "base NaN": (lambda: _apply(_x(), base=float("nan")), ValueError, ["base", "finite", "greater than 1"]),
    "base inf": (lambda: _apply(_x(), base=float("inf")), ValueError, ["base", "finite"]),
    "base 1": (lambda: _apply(_x(), base=1.0), ValueError, ["base", "greater than 1"]),
    "base 0.5": (lambda: _apply(_x(), base=0.5), ValueError, ["base", "greater than 1"]),
    "base negative": (lambda: _apply(_x(), base=-10000.0), ValueError, ["base", "greater than 1"]),
    "base str": (lambda: _apply(_x(), base="10000"), TypeError, ["base", "real number"]),
    "base complex": (lambda: _apply(_x(), base=1e4 + 0j), TypeError, ["base", "real number"]),
    "base bool": (lambda: _apply(_x(), base=True), TypeError, ["base", "real number"]),
    # other keywords
    "seq_axis last": (lambda: _apply(_x(), seq_axis=-1), ValueError, ["seq_axis=-1", "head dimension"]),
    "seq_axis out of range": (lambda: _apply(_x(), seq_axis=3), ValueError, ["seq_axis=3", "-2 ... -2"]),
    "seq_axis float": (lambda: _apply(_x(), seq_axis=0.0), TypeError, ["seq_axis", "integer"]),
    "interleaved str": (lambda: _apply(_x(), interleaved="no"), TypeError, ["interleaved", "True or False"]),
    "inverse None": (lambda: _apply(_x(), inverse=None), TypeError, ["inverse", "True or False"]),
    "scaling unknown": (lambda: _apply(_x(), scaling="no-such-scaling"), (TypeError, ValueError), ["scaling"]),
    # the gufuncs: NumPy's own checks, and rope's core-dimension check
    "rotate k > n/2": (lambda: _rotate(rope.rotate, _x(dtype=np.float64), *_tables(5)), ValueError,
                       ["rotate", "k=5", "k <= n/2"]),
    "rotate_interleaved k > n/2": (lambda: _rotate(rope.rotate_interleaved, _x(dtype=np.float64), *_tables(5)),
                                   ValueError, ["rotate_interleaved", "k <= n/2"]),
    "rotate cos/sin lengths differ": (lambda: _rotate(rope.rotate, _x(), _tables(4)[0], _tables(3)[1]),
                                      ValueError, ["rotate", "core dimension"]),
    "rotate complex x": (lambda: _rotate(rope.rotate, _x().astype(np.complex128), *_tables()), TypeError,
                         ["rotate", "not supported for the input types"]),
    "rotate 0-d x": (lambda: _rotate(rope.rotate_interleaved, np.float64(1.0), *_tables()), ValueError,
                     ["rotate_interleaved", "dimensions"]),
    "rotate read-only out": (lambda: _rotate(rope.rotate, _x(), *_tables(), out=_readonly(_x())), ValueError,
                             ["read-only"]),
    "rotate int out": (lambda: _rotate(rope.rotate, _x(), *_tables(), out=np.zeros((4, 8), np.int64)),
                       TypeError, ["rotate", "cast", "int64"]),
    "rotate out wrong shape": (lambda: _rotate(rope.rotate, _x(), *_tables(), out=np.zeros((4, 6))),
                               ValueError, ["rotate", "core dimension"]),
    "cos_sin complex theta": (lambda: ((lambda t: (lambda: rope.cos_sin(1, t), [t]))(np.ones(4, complex))),
                              TypeError, ["cos_sin", "not supported"]),
    "cos_sin integer dtype": (lambda: ((lambda t: (lambda: rope.cos_sin(1, t, dtype=np.int64), [t]))(np.ones(4))),
                              TypeError, ["cos_sin", "loop"]),
    # helpers
    "frequencies odd": (lambda: ((lambda: rope.frequencies(7)), []), ValueError, ["dim", "even", "7"]),
    "frequencies 0": (lambda: ((lambda: rope.frequencies(0)), []), ValueError, ["dim", ">= 1"]),
    "frequencies str": (lambda: ((lambda: rope.frequencies("8")), []), TypeError, ["dim", "integer"]),
    "frequencies base NaN": (lambda: ((lambda: rope.frequencies(8, float("nan"))), []), ValueError,
                             ["base", "finite"]),
    "periods base 1": (lambda: ((lambda: rope.periods(8, 1.0)), []), ValueError, ["base", "greater than 1"]),
    "periods float dim": (lambda: ((lambda: rope.periods(8.0)), []), TypeError, ["dim", "integer"]),
    # issue 19, item 7: the decode fast path refuses what the general path refuses
    "decode threads True": (lambda: _apply(_x((1, 32, 128)), 5, layout="shd", threads=True), TypeError,
                            ["threads", "integer", "True"]),
    "decode threads 1.0": (lambda: _apply(_x((1, 32, 128)), 5, layout="shd", threads=1.0), TypeError,
                           ["threads", "integer", "1.0"]),
    "decode attention_scaling str": (lambda: _apply(_x((1, 32, 128)), 5, layout="shd", attention_scaling="no"),
                                     TypeError, ["attention_scaling", "True or False", "'no'"]),
    "decode inverse 1": (lambda: _apply(_x((1, 32, 128)), 5, layout="shd", inverse=1), TypeError,
                         ["inverse", "True or False"]),
    # ... scaling parameters whose formulas overflow, divide by zero or leave log's domain
    "yarn mscale_all_dim -10": (lambda: _apply(_x(), 0, scaling="yarn", factor=math.e, original_max_position_embeddings=64,
                                               mscale=1.0, mscale_all_dim=-10), ValueError,
                                ["mscale_all_dim", "> 0", "-10"]),
    "ntk factor 1e300": (lambda: _apply(_x(), 0, scaling="ntk", factor=1e300), ValueError, ["factor", "overflows"]),
    "base_scale factor 1e300": (lambda: ((lambda: rope.base_scale(8, 1e300)), []), ValueError, ["factor", "overflows"]),
    "yarn beta_fast 1e308": (lambda: _apply(_x(), 0, scaling="yarn", factor=4.0, original_max_position_embeddings=64,
                                            beta_fast=1e308), ValueError, ["beta_fast=1e+308", "out of range"]),
    "yarn beta_slow 5e-324": (lambda: _apply(_x(), 0, scaling="yarn", factor=4.0, original_max_position_embeddings=64,
                                             beta_slow=5e-324), ValueError, ["beta_slow", "out of range"]),
    "longrope original length 1": (lambda: ((lambda: rope.attention_factor(
        8, scaling="longrope", short_factor=[1] * 4, long_factor=[1] * 4, original_max_position_embeddings=1,
        factor=2.0)), []), ValueError, ["original_max_position_embeddings", "> 1"]),
    "linear factor 1e-320": (lambda: _apply(_x(), 0, scaling="linear", factor=1e-320), ValueError,
                             ["factor=1e-320", "overflow"]),
    "dynamic seq_len 10**400": (lambda: ((lambda: rope.frequencies(8, scaling="dynamic", factor=2.0,
                                                                   max_position_embeddings=4, seq_len=10**400)), []),
                                ValueError, ["seq_len", "tokens"]),
    "scaling factor 10**400": (lambda: _apply(_x(), 0, scaling="linear", factor=10**400), ValueError,
                               ["factor", "finite"]),
    "dim 2**40": (lambda: ((lambda: rope.Rope(2**40)), []), ValueError, ["dim", "head dimension"]),
    # ... values nested past any recursion limit, ragged lists
    "scaling factor nested dict": (lambda: _apply(_x(), 0, scaling={"rope_type": "linear", "factor": _deep(5000)}),
                                   TypeError, ["factor", "real number"]),
    "scaling factor nested list": (lambda: _apply(_x(), 0, scaling="linear", factor=_deep(5000, kind=list)),
                                   TypeError, ["factor", "real number"]),
    "base ragged list": (lambda: _apply(_x(), 0, base=[1, [2]]), TypeError, ["base", "real number"]),
    "layout nested list": (lambda: _apply(_x(), 0, layout=_deep(5000, kind=list)), TypeError, ["layout", "string"]),
    # ... misspelt keywords, told apart from scaling parameters
    "keyword rotary_dims": (lambda: _apply(_x(), 0, rotary_dims=4), TypeError,
                            ["unknown keyword", "'rotary_dims'", "rotary_dim=?"]),
    "keyword seqaxis": (lambda: _apply(_x(), 0, seqaxis=0), TypeError, ["unknown keyword", "'seqaxis'", "seq_axis=?"]),
    "Rope keyword typo": (lambda: ((lambda: rope.Rope(8, rotary_dims=4)), []), TypeError,
                          ["Rope()", "'rotary_dims'", "rotary_dim=?"]),
    "frequencies keyword typo": (lambda: ((lambda: rope.frequencies(8, seqlen=4)), []), TypeError,
                                 ["rope.frequencies()", "'seqlen'", "seq_len=?"]),
    "set_simd_level with NUL": (lambda: ((lambda: rope.set_simd_level("avx2\x00junk")), []), ValueError,
                                ["set_simd_level", "unknown level"]),
    # ... a pos of shape (1,), told that it does not fit (not only to name the axis)
    "pos of shape (1,), 3-d x": (lambda: _apply(_x((4, 2, 8)), np.array([3])), ValueError,
                                 ["pos has 1 position", "no axis of x", "pass the int p"]),
    # ... Rope.tables: positions and flags checked as rope.apply checks them
    "tables bool positions": (lambda: ((lambda: rope.Rope(8).tables([True, False], np.float32)), []), TypeError,
                              ["positions", "bool"]),
    "tables positions past 2**53": (lambda: ((lambda: rope.Rope(8).tables([2**60], np.float32)), []), ValueError,
                                    ["positions", "2**53"]),
    "tables dtype int": (lambda: ((lambda: rope.Rope(8).tables([0, 1], np.int64)), []), TypeError,
                         ["dtype", "np.float32"]),
    "tables dtype unknown": (lambda: ((lambda: rope.Rope(8).tables([0, 1], "abc")), []), TypeError, ["dtype", "'abc'"]),
    "tables inverse str": (lambda: ((lambda: rope.Rope(8).tables([0, 1], np.float32, inverse="no")), []), TypeError,
                           ["inverse", "True or False"]),
    # ... Hugging Face configs
    "hf num_attention_heads 0": (lambda: _hf({"num_attention_heads": 0}), ValueError, ["num_attention_heads", "0"]),
    "hf hidden_size str": (lambda: _hf({"hidden_size": "64"}), TypeError, ["hidden_size", "integer"]),
    "hf heads more than hidden": (lambda: _hf({"num_attention_heads": 128}), ValueError,
                                  ["hidden_size", "num_attention_heads"]),
    "hf rope_ratio str": (lambda: _hf({"model_type": "chatglm", "kv_channels": 8, "rope_ratio": "x"}), TypeError,
                          ["rope_ratio", "number"]),
    "hf text_config str": (lambda: _hf({"text_config": "llama"}), TypeError, ["text_config", "dict"]),
    "hf text_config list": (lambda: _hf({"text_config": [1]}), TypeError, ["text_config", "dict"]),
    "hf model_type list": (lambda: _hf({"model_type": ["llama"]}), TypeError, ["model_type", "string"]),
    "hf rope_scaling array": (lambda: _hf({"rope_scaling": np.array([2.0, 3.0])}), ValueError,
                              ["rope_scaling", "dict"]),
    "hf rope_scaling unknown key": (lambda: _hf({"rope_scaling": {"rope_type": "linear", "factor": 2.0, "foo": 1}}),
                                    TypeError, ["rope_scaling", "'foo'", "no scaling family"]),
    "hf mrope_section bool": (lambda: _hf({"model_type": "qwen2_vl", "rope_scaling": {
        "type": "mrope", "mrope_section": True}}), TypeError, ["mrope_section", "list"]),
    "hf factor nested dict": (lambda: _hf({"rope_scaling": {"rope_type": "linear", "factor": _deep(5000)}}),
                              TypeError, ["factor", "real number"]),
    "hf field nested dict": (lambda: _hf({"rope_fancy": _deep(5000)}), ValueError, ["rope_fancy"]),
    "hf nested JSON": (lambda: _hf_file("{\"a\":" * 100000 + "1" + "}" * 100000), ValueError,
                       ["nests", "too deeply"]),
}


def _deep(levels, leaf=1.0, kind=dict):
    value = leaf
    for _ in range(levels):
        value = {"a": value} if kind is dict else [value]
    return value


def _hf(changes):
    """from_hf_config on a small Llama config with `changes`."""
    config = dict({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 8,
                   "rope_theta": 10000.0}, **changes)
    return (lambda: rope.Rope.from_hf_config(config)), []


def _hf_file(text):
    """from_hf_config on a config.json holding `text`."""
    import atexit
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    with handle:
        handle.write(text)
    atexit.register(os.unlink, handle.name)
    return (lambda: rope.Rope.from_hf_config(handle.name)), []


def _snapshot(obj):
    """The bytes of every array in obj (masked arrays: data and mask), or its repr."""
    if isinstance(obj, np.ma.MaskedArray):
        return [obj.data.tobytes(), np.ma.getmaskarray(obj).tobytes()]
    if isinstance(obj, np.ndarray):
        return [obj.dtype.str, obj.shape, obj.tobytes()]
    return repr(obj)


def _run_case(name):
    build, expected, words = CASES[name]
    call, inputs = build()
    before = [_snapshot(a) for a in inputs]
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        error, message = type(exc), str(exc)
    else:
        error, message = None, ""
    unchanged = [_snapshot(a) for a in inputs] == before
    return {
        "raised": None if error is None else error.__name__,
        "right_type": error is not None and issubclass(error, expected),
        "message": message,
        "missing_words": [w for w in words if w not in message],
        "inputs_unchanged": unchanged,
    }


def _child_main():
    for name in CASES:
        print(json.dumps({"start": name}), flush=True)
        print(json.dumps({"case": name, **_run_case(name)}), flush=True)


@pytest.fixture(scope="module")
def matrix_results():
    """Run every case in one child interpreter; map case name -> result (or the crash)."""
    proc = subprocess.run([sys.executable, str(HERE)], capture_output=True, text=True, timeout=600,
                          env=CHILD_ENV)
    results, running = {}, None
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if "start" in record:
            running = record["start"]
        else:
            results[record["case"]] = record
            running = None
    crash = None
    if proc.returncode != 0 or running is not None:
        crash = f"child exited with {proc.returncode} while running {running!r}; stderr:\n{proc.stderr[-3000:]}"
    return results, crash


def test_matrix_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(matrix_results, name):
    results, crash = matrix_results
    if name not in results:
        pytest.fail(crash or f"case {name!r} produced no result")
    r = results[name]
    assert r["raised"] is not None, f"{name}: no exception"
    assert r["right_type"], f"{name}: raised {r['raised']}: {r['message']}"
    assert not r["missing_words"], f"{name}: message lacks {r['missing_words']}: {r['message']!r}"
    assert r["inputs_unchanged"], f"{name}: an input array changed"


# ---- the command line: bad arguments exit with status 2 and a usage message ----------------


@pytest.mark.parametrize(
    "argv, words",
    [([], ["usage", "command"]), (["bogus"], ["invalid choice", "demo"]), (["demo", "--bogus"], ["unrecognized"])],
)
def test_cli_bad_arguments(argv, words):
    proc = subprocess.run([sys.executable, "-m", "rope", *argv], capture_output=True, text=True, timeout=300,
                          env=CHILD_ENV)
    assert proc.returncode == 2, proc.stderr
    for word in words:
        assert word in proc.stderr


# ---- edge cases that are valid: zero-size arrays, 2**53, overlapping out -------------------


@pytest.mark.parametrize(
    "shape, pos",
    [((0, 8), 0), ((0, 8), np.arange(0)), ((2, 0, 8), np.arange(0)), ((3, 0, 4, 8), 5), ((0, 3, 8), 0)],
)
def test_zero_size_is_a_no_op(shape, pos):
    """Like a NumPy ufunc on an empty batch: nothing to rotate, x returned, nothing raised."""
    x = np.zeros(shape, np.float32)
    assert rope.apply(x, pos, seq_axis=-2) is x
    assert x.shape == shape


@pytest.mark.parametrize("offset", [rope.MAX_POSITION, rope.MAX_POSITION - 1, -rope.MAX_POSITION])
def test_positions_at_the_bound_are_exact(offset):
    """|pos| <= 2**53 is rotated by the exact angle (mpmath), 2**53 + 1 is refused."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    v = rope.apply(np.array([1.0, 0.0]), offset)
    exact = [float(mpmath.cos(offset)), float(mpmath.sin(offset))]
    np.testing.assert_allclose(v, exact, rtol=0, atol=6e-16)
    with pytest.raises(ValueError, match="2\\*\\*53"):
        rope.apply(np.array([1.0, 0.0]), offset + (1 if offset > 0 else -1) * (rope.MAX_POSITION - abs(offset) + 1))


def test_position_array_at_the_bound_is_exact():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    pos = np.array([rope.MAX_POSITION, -rope.MAX_POSITION, 3])
    x = np.tile([1.0, 0.0], (3, 1))
    rope.apply(x, pos)
    exact = [[float(mpmath.cos(int(p))), float(mpmath.sin(int(p)))] for p in pos]
    np.testing.assert_allclose(x, exact, rtol=0, atol=6e-16)


@pytest.mark.parametrize("fn, interleaved", [(rope.rotate, False), (rope.rotate_interleaved, True)])
@pytest.mark.parametrize("shift", [1, 2, -2])
def test_out_overlapping_x_is_still_correct(fn, interleaved, shift):
    """out a view shifted against x: NumPy copies the operands; the result must be right."""
    buf = np.random.default_rng(2).standard_normal((3, 12))
    x = buf[:, 2:10]
    expected = reference.rotate(x.copy(), np.arange(3), rope.frequencies(8), interleaved=interleaved)
    c, s = rope.cos_sin(np.arange(3), rope.frequencies(8))
    out = buf[:, 2 + shift:10 + shift]
    assert np.shares_memory(x, out)
    fn(x, c, s, out=out)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-13)


def test_out_overlapping_rows_is_still_correct():
    """out is x shifted by one row: every row of out overlaps the next row of x."""
    buf = np.random.default_rng(3).standard_normal((5, 8)).astype(np.float32)
    x, out = buf[:4], buf[1:]
    expected = reference.rotate(x.copy(), np.arange(4), rope.frequencies(8))
    c, s = rope.cos_sin(np.arange(4), rope.frequencies(8), dtype=np.float32)
    rope.rotate(x, c, s, out=out)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


def test_list_is_refused_but_rotate_takes_array_likes():
    """apply needs an array to write into; the gufunc returns a new array from a list."""
    with pytest.raises(TypeError, match="in place"):
        rope.apply([1.0, 0.0], 1)
    c, s = rope.cos_sin(1, np.array([1.0]))
    np.testing.assert_allclose(rope.rotate([1.0, 0.0], c, s), reference.rotate([1.0, 0.0], 1, [1.0]), atol=1e-15)


# ---- a random probe of the scaling families' parameters ---------------------------------

def _short(value):
    """repr of a probe value for a failure message (the deep ones have no plain repr)."""
    return reprlib.repr(value)


# Values a parameter may be given by mistake: out of range, of the wrong type, overflowing,
# nested past any recursion limit.
NASTY = [0, -1, 0.5, 1e-320, 1e-300, 1e300, 1e308, -1e308, float("inf"), float("-inf"),
         float("nan"), -0.0, 10**400, 2**63, True, None, "x", "4", [], [1.0], {}, {"a": 1},
         complex(1, 1), np.float32(2.0), np.int64(3), np.array([2.0, 3.0]),
         _deep(3000), _deep(3000, kind=list)]
SANE = {"factor": 4.0, "original_max_position_embeddings": 64, "max_position_embeddings": 256,
        "low_freq_factor": 1.0, "high_freq_factor": 4.0, "beta_fast": 32.0, "beta_slow": 1.0,
        "mscale": 1.0, "mscale_all_dim": 0.5, "attention_factor": 1.2, "truncate": False,
        "partial_rotary_factor": 0.5, "short_factor": [1.0, 2.0, 3.0, 4.0],
        "long_factor": [2.0, 4.0, 6.0, 8.0]}
FAMILIES = {
    "linear": ["factor"],
    "ntk": ["factor"],
    "dynamic": ["factor", "max_position_embeddings"],
    "yarn": ["factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "mscale",
             "mscale_all_dim", "attention_factor", "truncate"],
    "llama3": ["factor", "low_freq_factor", "high_freq_factor",
               "original_max_position_embeddings"],
    "longrope": ["short_factor", "long_factor", "original_max_position_embeddings", "factor",
                 "attention_factor"],
    "proportional": ["factor", "partial_rotary_factor"],
}


def _probe_calls(family, params, nasty_names):
    """The calls of one probe case: the public functions that take a scaling's parameters."""
    seq_len = params.pop("seq_len", None)
    dim = params.pop("dim", 8)
    base = params.pop("base", 10000.0)
    yield "Rope", lambda: rope.Rope(dim, base, family, **params)
    yield "frequencies", lambda: rope.frequencies(dim, base, family, seq_len=seq_len, **params)
    yield "attention_factor", lambda: rope.attention_factor(dim, base, family, seq_len=seq_len,
                                                            **params)
    yield "apply", lambda: rope.apply(np.ones((2, 8)), 0, base=base, scaling=family,
                                      seq_len=seq_len, **params)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_random_parameter_values_get_errors_that_name_them(family):
    """For every family, random parameters set to values given by mistake: every call either
    works or raises TypeError/ValueError whose message names one of the bad arguments. No
    ZeroDivisionError, OverflowError, RecursionError, 'math domain error' or floating-point
    warning (all turned into errors here)."""
    rng = np.random.default_rng(sum(map(ord, family)))
    names = FAMILIES[family] + ["dim", "base", "seq_len"]
    for _ in range(150):
        params = {k: SANE[k] for k in FAMILIES[family]}
        chosen = [str(n) for n in rng.choice(names, size=int(rng.integers(1, 3)), replace=False)]
        for name in chosen:
            params[name] = NASTY[int(rng.integers(len(NASTY)))]
        for what, call in _probe_calls(family, dict(params), chosen):
            # np.errstate(all="raise") for the frequencies: they are computed in Python and
            # NumPy; not for apply's kernels, whose floating-point flags are another matter
            errors = "ignore" if what == "apply" else "raise"
            with warnings.catch_warnings(), np.errstate(all=errors):
                warnings.simplefilter("error")
                try:
                    call()
                except (TypeError, ValueError) as exc:
                    message = str(exc)
                    assert any(name in message for name in chosen) or \
                        (any(str(v) in message for v in (params[n] for n in chosen))), \
                        f"{what} {family} {chosen}={_short([params[n] for n in chosen])}: {message}"
                except Exception as exc:  # noqa: BLE001 - the failure being tested for
                    pytest.fail(f"{what} {family} {chosen}={_short([params[n] for n in chosen])}: "
                                f"{type(exc).__name__}: {exc}")


HF_CONFIGS = [
    {"model_type": "llama", "hidden_size": 64, "num_attention_heads": 8, "rope_theta": 1e4,
     "max_position_embeddings": 256, "rope_scaling": {"rope_type": "yarn", "factor": 4.0,
                                                      "original_max_position_embeddings": 64}},
    {"model_type": "gptj", "n_embd": 64, "n_head": 8, "rotary_dim": 4},
    {"model_type": "chatglm", "kv_channels": 8, "rope_ratio": 2.0},
    {"model_type": "deepseek_v3", "hidden_size": 64, "num_attention_heads": 8,
     "qk_rope_head_dim": 8, "rope_theta": 1e4},
    {"model_type": "gpt_neox", "hidden_size": 64, "num_attention_heads": 8, "rotary_pct": 0.5,
     "rotary_emb_base": 1e4},
    {"model_type": "qwen2_vl", "hidden_size": 64, "num_attention_heads": 4, "rope_theta": 1e4,
     "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}},
    {"model_type": "gemma3", "text_config": {"model_type": "gemma3_text", "head_dim": 8,
                                             "rope_theta": 1e6, "rope_local_base_freq": 1e4}},
]


@pytest.mark.parametrize("index", range(len(HF_CONFIGS)))
def test_random_hf_config_values_get_errors_that_name_them(index):
    """Hugging Face configs with fields (top-level and in rope_scaling) set to values given by
    mistake: rope.Rope.from_hf_config works or raises TypeError/ValueError naming the field
    (rope_theta is rope's base)."""
    rng = np.random.default_rng(index)
    config = HF_CONFIGS[index]
    for _ in range(200):
        broken = dict(config, rope_scaling=dict(config.get("rope_scaling") or {})) \
            if "rope_scaling" in config else dict(config)
        where = broken["rope_scaling"] if "rope_scaling" in broken and rng.integers(2) else broken
        field = str(rng.choice(sorted(where)))
        where[field] = NASTY[int(rng.integers(len(NASTY)))]
        layer = "full_attention" if config["model_type"] == "gemma3" else None
        try:
            rope.Rope.from_hf_config(broken, layer_type=layer)
        except (TypeError, ValueError) as exc:
            aliases = {field, "base"} if field in ("rope_theta", "rope_local_base_freq",
                                                   "rotary_emb_base", "rope_ratio") else {field}
            if field == "rope_scaling":  # a dict of unknown keys: they are named
                aliases.add("no scaling family takes")
            if field in ("rope_type", "type"):
                aliases |= {"scaling", "rope_scaling", "type"}
            if field == "rotary_pct":
                aliases.add("partial_rotary_factor")
            if field in ("hidden_size", "num_attention_heads", "head_dim", "n_embd", "n_head",
                         "qk_rope_head_dim", "kv_channels"):
                aliases.add("head dimension")  # a head dimension past 2**24, from these
            if field == "model_type":  # another family's rules, which may miss other fields
                aliases.add("")
            if field == "text_config":  # a dict: the text config's own fields are missing
                aliases.add("config")
            assert any(a in str(exc) for a in aliases), f"{field}={_short(where[field])}: {exc}"
        except Exception as exc:  # noqa: BLE001 - the failure being tested for
            pytest.fail(f"{config['model_type']} {field}={_short(where[field])}: "
                        f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    _child_main()
