"""The root command: --version, env, usage errors, `python -m bertkit`."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import invoke

from bertkit import __version__


def test_version():
    r = invoke(["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"bertkit {__version__}"


def test_python_dash_m():
    r = subprocess.run([sys.executable, "-m", "bertkit", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and __version__ in r.stdout


def test_env_reports_tested_ranges():
    r = invoke(["env"])
    assert r.exit_code == 0
    info = json.loads(r.stdout)
    assert info["bertkit"] == __version__ and info["device"] in ("cpu", "cuda", "mps")
    pk = info["packages"]
    assert pk["transformers"]["version"].startswith("5.") and pk["transformers"]["tested"]
    bad = {k: v for k, v in pk.items() if v["ok"] is False}
    assert not bad, f"installed versions outside the ranges declared in pyproject.toml: {bad}"
    assert info["all_in_tested_ranges"] is True


def test_env_table_for_people():
    r = invoke(["env", "--format", "table"])
    assert r.exit_code == 0 and "transformers" in r.stdout and "torch_threads" in r.stdout


def test_usage_errors_exit_2():
    r = invoke(["classify", "nope"])
    assert r.exit_code == 2
    r = invoke(["classify", "predict"])  # --model missing
    assert r.exit_code == 2 and "--model" in r.output


def test_missing_model_folder_is_one_line(tmp_path):
    r = invoke(["classify", "predict", "--model", str(tmp_path / "nothing")], input="hi\n")
    assert r.exit_code == 1 and r.stderr.strip().startswith("bertkit: error:") and "model folder not found" in r.stderr
