"""`python -m rope demo` and `python -m rope spectrum` in a subprocess: the printed numbers
against closed forms and rope.reference, --help, plain CSV, a closed pipe, every scaling
parameter on the command line, and exit code 2 with the usage on bad arguments and paths."""
import csv
import io
import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import rope
from rope import reference


# The subprocesses import the rope these tests import, whatever their working folder (an
# uninstalled build in the current folder, as the sanitizer run has, included).
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    [str(pathlib.Path(rope.__file__).parent.parent)] +
    [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))


def run(*args, check=True, cwd=None):
    result = subprocess.run([sys.executable, "-m", "rope", *args], capture_output=True,
                            text=True, encoding="utf-8", timeout=120, cwd=cwd, env=ENV)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def number(pattern, text):
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in output:\n{text}"
    return float(match.group(1))


FLOAT = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    out = run("demo", cwd=folder).stdout
    assert list(folder.iterdir()) == []               # no --out-dir: no file written anywhere
    assert "--out-dir" in out
    return out


def test_demo_frequencies(demo_output):
    assert number(r"theta_129 = " + FLOAT, demo_output) == reference.frequencies(512)[128] == 0.01
    assert number(r"theta_1 = " + FLOAT, demo_output) == 1.0
    t64 = number(r"T_64 = " + FLOAT, demo_output)
    assert t64 == pytest.approx(2 * math.pi * 10000 ** (126 / 128), rel=1e-12)


def test_demo_one_pair_is_cos_sin_of_2(demo_output):
    match = re.search(r"rotated = \(" + FLOAT + ", " + FLOAT + r"\)", demo_output)
    assert float(match.group(1)) == pytest.approx(math.cos(2), abs=1e-12)
    assert float(match.group(2)) == pytest.approx(math.sin(2), abs=1e-12)
    assert number(r"\|Ro\(\(3, 4\), 7θ\)\| = " + FLOAT, demo_output) == pytest.approx(5.0)


def test_demo_cat_sleeping_scores_equal_vectors_differ(demo_output):
    near = number(r"cat at 2, sleeping at 4\) = " + FLOAT, demo_output)
    far = number(r"cat at 9, sleeping at 11\) = " + FLOAT, demo_output)
    assert near == pytest.approx(far, abs=1e-11)
    cat, sleeping = np.random.default_rng(0).standard_normal((2, 8))   # the demo's vectors
    theta = reference.frequencies(8)
    expected = reference.rotate(cat, 2, theta) @ reference.rotate(sleeping, 4, theta)
    assert near == pytest.approx(expected, abs=1e-11)
    moved = number(r"Ro\(cat, 9θ\)\| = " + FLOAT, demo_output)
    assert moved == pytest.approx(
        np.abs(reference.rotate(cat, 2, theta) - reference.rotate(cat, 9, theta)).max(), abs=1e-6)
    assert moved > 0.1


def test_demo_scaling_condition_and_linear_interpolation(demo_output):
    assert number(r"at i = 5: max difference = " + FLOAT, demo_output) < 1e-13
    assert "position 4096 -> 1024;" in demo_output
    assert number(r"last position 8191 -> " + FLOAT, demo_output) == 8191 * 2048 / 8192
    assert number(r"rope.apply\(x, 1024\): max difference = " + FLOAT, demo_output) < 1e-13


def test_demo_period_matching(demo_output):
    assert number(r"lambda = " + FLOAT, demo_output) == pytest.approx(4 ** (128 / 126), abs=1e-10)
    before = number(r"T_64: before = " + FLOAT, demo_output)
    after = number(r"T_64: before = \S+  after = " + FLOAT, demo_output)
    linear = number(r"linear interpolation = " + FLOAT, demo_output)
    assert before == pytest.approx(2 * math.pi * 10000 ** (126 / 128), abs=1e-6)
    assert after == pytest.approx(4 * before, rel=1e-10)
    assert linear == pytest.approx(after, abs=1e-6)
    assert number(r"T_1: before = \S+  after = " + FLOAT, demo_output) == pytest.approx(2 * math.pi)


def test_demo_yarn_and_llama3(demo_output):
    yarn, llama = re.findall(
        r"ratio pair 1 = (\S+)\s+ratio pair 64 = (\S+)\s+kept = (\d+)\s+interpolated = (\d+)\s+"
        r"ramp = (\d+)\s+attention factor = (\S+)", demo_output)
    # Qwen2.5 YaRN: lo = 23, hi = 40 (docs/theory.md) -> pairs i <= 23 kept, i >= 40 divided by 4.
    assert [float(v) for v in yarn] == pytest.approx([1, 4, 24, 24, 16, 0.1 * math.log(4) + 1])
    # Llama 3.1: pairs 0-28 unchanged, 35-63 divided by 8.
    assert [float(v) for v in llama] == pytest.approx([1, 8, 29, 29, 6, 1])
    match = re.search(r"pair 31 \(i = 30, in the ramp\): " + FLOAT + " -> " + FLOAT, demo_output)
    assert float(match.group(1)) == pytest.approx(2.1311195e-3, rel=1e-7)
    assert float(match.group(2)) == pytest.approx(1.3718936e-3, rel=1e-7)


def test_demo_precision_float32_angles_drift_exact_ones_do_not(demo_output):
    exact, framework = re.findall(r"angles: score\(cat at i, sleeping at i \+ 2\) − exact at "
                                  r"i = 0, 10\^3, 10\^6:\s+(\S+)\s+(\S+)\s+(\S+)", demo_output)
    assert max(abs(float(v)) for v in exact) < 1e-5
    assert abs(float(framework[2])) > 1e-2                # 10^6: the float32 angle is off


def test_demo_writes_figures_where_told_or_says_why_not(tmp_path):
    out = run("demo", "--out-dir", str(tmp_path / "new" / "figs"), cwd=tmp_path).stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in out
        return
    written = re.findall(r"Figure written: (\S+)", out)
    assert len(written) == 7
    for path in written:
        assert pathlib.Path(path).parent == tmp_path / "new" / "figs"
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]


def spectrum_rows(*args):
    result = run("spectrum", "--format", "csv", *args)
    assert result.stdout.startswith("k,theta,")          # plain CSV: the header row first
    assert result.stderr.startswith("# Rope(")            # the configuration, on stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    return {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}


def test_spectrum_csv_reads_with_numpy_and_pandas():
    text = run("spectrum", "--format", "csv", "--dim", "16").stdout
    table = np.genfromtxt(io.StringIO(text), delimiter=",", names=True)
    assert table.dtype.names[:3] == ("k", "theta", "period") and table.size == 8
    np.testing.assert_allclose(table["theta"], reference.frequencies(16), rtol=1e-15)
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv(io.StringIO(text))
    assert list(frame.columns)[0] == "k" and len(frame) == 8


def test_spectrum_into_a_closed_pipe_exits_quietly():
    command = f'"{sys.executable}" -m rope spectrum --dim 20000 | head -n 2'
    result = subprocess.run(["bash", "-c", "set -o pipefail; " + command],
                            capture_output=True, text=True, timeout=120, env=ENV)
    assert result.stdout.splitlines()[1].split()[0] == "k"
    assert result.stderr == ""                             # no BrokenPipeError traceback
    assert result.returncode == 141                        # 128 + SIGPIPE, as `yes | head` gives


def test_spectrum_unscaled_matches_the_formula():
    table = spectrum_rows("--dim", "64", "--base", "500000")
    k = np.arange(1, 33)
    np.testing.assert_array_equal(table["k"], k)
    np.testing.assert_allclose(table["theta"], 500000.0 ** (-2 * (k - 1) / 64), rtol=1e-15)
    np.testing.assert_allclose(table["period"], 2 * np.pi * 500000.0 ** (2 * (k - 1) / 64),
                               rtol=1e-15)
    np.testing.assert_array_equal(table["theta_scaled"], table["theta"])


def test_spectrum_linear_divides_by_the_factor():
    table = spectrum_rows("--scaling", "linear", "--factor", "4")
    np.testing.assert_allclose(table["theta_scaled"], reference.frequencies(128) / 4, rtol=1e-15)
    np.testing.assert_allclose(table["theta/theta_scaled"], 4.0, rtol=1e-15)


def test_spectrum_yarn_qwen25():
    table = spectrum_rows("--base", "1e6", "--scaling", "yarn", "--factor", "4",
                          "--original-max-position-embeddings", "32768")
    # lo = 23, hi = 40, ramp_i = (i - lo)/(hi - lo), E_i = 1 - ramp_i (docs/theory.md, YaRN)
    i = np.arange(64)
    keep = 1 - np.clip((i - 23) / (40 - 23), 0, 1)
    omega = reference.frequencies(128, 1e6)
    np.testing.assert_allclose(table["theta_scaled"], omega * keep + omega / 4 * (1 - keep),
                               rtol=1e-13)


def test_spectrum_hf_config_and_table_format(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "hidden_size": 4096, "num_attention_heads": 32, "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}))
    table = spectrum_rows("--hf-config", str(config))
    assert table["theta_scaled"][30] == pytest.approx(1.3718936e-3, rel=1e-7)
    np.testing.assert_allclose(table["theta/theta_scaled"][:29], 1.0, rtol=1e-14)
    np.testing.assert_allclose(table["theta/theta_scaled"][35:], 8.0, rtol=1e-14)
    text = run("spectrum", "--hf-config", str(config)).stdout
    rows = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    assert rows[0][0] == "k" and len(rows) == 65
    assert float(rows[31][3]) == pytest.approx(1.3718936e-3, rel=1e-7)


def test_spectrum_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "spectrum.png"
    result = run("spectrum", "--scaling", "ntk", "--factor", "2", "--plot", str(out))
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert result.stderr.strip() == f"wrote {out}"


def test_spectrum_plot_writes_the_path_given(tmp_path):
    pytest.importorskip("matplotlib")
    run("spectrum", "--plot", str(tmp_path / "figure"))             # no extension: PNG, as named
    run("spectrum", "--plot", str(tmp_path / "figure.svg"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure", "figure.svg"]
    assert (tmp_path / "figure").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "figure.svg").read_bytes()[:400]


def test_spectrum_plot_draws_the_sequence_length(tmp_path):
    pytest.importorskip("matplotlib")
    dynamic = ("--scaling", "dynamic", "--factor", "2", "--max-position-embeddings", "4096")
    at_trained, longer = tmp_path / "a.png", tmp_path / "b.png"
    run("spectrum", *dynamic, "--plot", str(at_trained))
    table = run("spectrum", *dynamic, "--seq-len", "16384", "--plot", str(longer)).stdout
    assert at_trained.read_bytes() != longer.read_bytes()
    assert "sequence length 16384" in table


def _every_family_parameter():
    from rope._scaling import family_parameters, scaling_names

    names = {"base": "ntk", "default": None}
    return sorted({p for family in scaling_names() for p in family_parameters(
        names.get(family, family))} | {"partial_rotary_factor"})


def test_every_family_and_parameter_is_on_the_command_line():
    from rope._scaling import scaling_names

    text = run("spectrum", "--help").stdout
    for family in scaling_names():
        assert family in text, family
    for parameter in _every_family_parameter():
        assert "--" + parameter.replace("_", "-") in text, parameter


@pytest.mark.parametrize("as_file", [False, True])
def test_spectrum_longrope_factors_from_a_list_or_a_file(tmp_path, as_file):
    short = [1.0 + 0.01 * i for i in range(8)]
    long = [1.0 + 0.5 * i for i in range(8)]
    if as_file:
        (tmp_path / "short.json").write_text(json.dumps(short))
        (tmp_path / "long.txt").write_text("\n".join(map(str, long)))
        short_arg, long_arg = str(tmp_path / "short.json"), str(tmp_path / "long.txt")
    else:
        short_arg, long_arg = ",".join(map(str, short)), ",".join(map(str, long))
    config = ("--dim", "16", "--scaling", "longrope", "--short-factor", short_arg,
              "--long-factor", long_arg, "--original-max-position-embeddings", "4096",
              "--factor", "8")
    omega = reference.frequencies(16)
    np.testing.assert_allclose(spectrum_rows(*config)["theta_scaled"], omega / short, rtol=1e-15)
    np.testing.assert_allclose(spectrum_rows(*config, "--seq-len", "8192")["theta_scaled"],
                               omega / long, rtol=1e-15)


def test_spectrum_yarn_and_proportional_parameters():
    yarn = ("--base", "1e6", "--scaling", "yarn", "--factor", "4",
            "--original-max-position-embeddings", "32768", "--mscale", "0.707",
            "--mscale-all-dim", "0.707")
    stderr = run("spectrum", "--format", "csv", *yarn).stderr
    assert stderr.endswith("attention factor 1\n")         # g(s, m) / g(s, m) with m = m'
    i = np.arange(64)
    table = spectrum_rows(*yarn, "--no-truncate")
    omega = reference.frequencies(128, 1e6)
    # truncate off: the ramp's ends are the unrounded correction dimensions
    lo = 128 * math.log(32768 / (32 * 2 * math.pi)) / (2 * math.log(1e6))
    hi = 128 * math.log(32768 / (1 * 2 * math.pi)) / (2 * math.log(1e6))
    ramp = np.clip((i - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(table["theta_scaled"], omega * (1 - ramp) + omega / 4 * ramp,
                               rtol=1e-13)
    table = spectrum_rows("--dim", "16", "--scaling", "proportional",
                          "--partial-rotary-factor", "0.5")
    np.testing.assert_array_equal(table["theta_scaled"][4:], 0.0)
    np.testing.assert_allclose(table["theta_scaled"][:4], reference.frequencies(16)[:4])


def test_program_name_in_usage():
    assert run("--help").stdout.startswith("usage: python -m rope ")
    script = shutil.which("rope-numpy", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the rope-numpy script is not installed next to this interpreter")
    result = subprocess.run([script, "spectrum", "--help"], capture_output=True, text=True)
    assert result.stdout.startswith("usage: rope-numpy spectrum ")


@pytest.mark.parametrize("command, options", [
    ([], ["demo", "spectrum"]),
    (["demo"], ["--out-dir"]),
    (["spectrum"], ["--dim", "--base", "--scaling", "--factor", "--hf-config", "--format",
                    "--plot", "--original-max-position-embeddings", "--max-position-embeddings",
                    "--low-freq-factor", "--high-freq-factor", "--beta-fast", "--beta-slow",
                    "--seq-len"]),
])
def test_help_explains_each_option(command, options):
    text = run(*command, "--help").stdout
    assert "usage: python -m rope" in text
    # Each option is listed with words after it (its help), not only in the usage line.
    body = text[text.index("\n\n"):]
    for option in options:
        assert re.search(re.escape(option) + r"\b[^\n]*\n?\s*\S+\s+\S+", body), option
    if command == ["spectrum"]:
        assert "rope_theta" in text and "CSV" in text


@pytest.mark.parametrize("args", [
    [],
    ["nonsense"],
    ["spectrum", "--dim", "abc"],
    ["spectrum", "--dim", "-4"],
    ["spectrum", "--dim", "7"],
    ["spectrum", "--format", "xml"],
    ["spectrum", "--scaling", "bogus", "--factor", "2"],
    ["spectrum", "--scaling", "yarn", "--factor", "4"],        # yarn needs the trained length
    ["spectrum", "--base", "0.5"],
    ["spectrum", "--hf-config", "/nonexistent/config.json"],
    ["demo", "--bogus"],
    ["spectrum", "--scaling", "longrope", "--short-factor", "1,x"],
    ["spectrum", "--scaling", "longrope", "--long-factor", "/nonexistent/factors.json"],
    ["spectrum", "--dim", "16", "--scaling", "longrope", "--short-factor", "1,1",
     "--long-factor", "1,1", "--original-max-position-embeddings", "64", "--factor", "2"],
])
def test_bad_arguments_give_usage_and_exit_code_2(args):
    result = run(*args, check=False)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "usage: python -m rope" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, message", [
    (["spectrum", "--plot", "{tmp}/missing/figure.png"], "does not exist"),
    (["spectrum", "--plot", "{tmp}"], "is a directory"),
    (["spectrum", "--plot", "{tmp}/figure.xyz"], "cannot write .xyz"),
    (["demo", "--out-dir", "{tmp}/a_file"], "is a file"),
    (["demo", "--out-dir", "{tmp}/a_file/figures"], "cannot create"),
])
def test_bad_paths_give_usage_and_exit_code_2(tmp_path, args, message):
    pytest.importorskip("matplotlib")
    (tmp_path / "a_file").write_text("")
    result = run(*[a.format(tmp=tmp_path) for a in args], check=False)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "usage: python -m rope" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]   # nothing written
