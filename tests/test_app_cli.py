"""app.py's command line and the launch options: Gradio's environment variables, the privacy defaults."""
import importlib.util
import os
from pathlib import Path

import gradio as gr
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("app_script", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_gradio_env(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    return monkeypatch


def test_defaults_bind_this_machine_only(script, no_gradio_env):
    args = script.build_parser().parse_args([])
    assert (args.host, args.port, args.share, args.max_upload_mb) == ("127.0.0.1", 7860, False, 20.0)
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_gradio_environment_variables_are_the_defaults(script, no_gradio_env):
    no_gradio_env.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    no_gradio_env.setenv("GRADIO_SERVER_PORT", "8123")
    args = script.build_parser().parse_args([])
    assert (args.host, args.port) == ("0.0.0.0", 8123)
    args = script.build_parser().parse_args(["--host", "127.0.0.2", "--port", "9000"])
    assert (args.host, args.port) == ("127.0.0.2", 9000)  # the flags win


def test_bad_port_and_upload_limit_are_refused(script, no_gradio_env, capsys):
    no_gradio_env.setenv("GRADIO_SERVER_PORT", "http")
    with pytest.raises(SystemExit) as exit_:
        script.build_parser().parse_args([])
    assert exit_.value.code == 2 and "'http' is not a port number" in capsys.readouterr().err
    no_gradio_env.delenv("GRADIO_SERVER_PORT")
    with pytest.raises(SystemExit) as exit_:
        script.main(["--max-upload-mb", "0"])
    assert exit_.value.code == 2 and "--max-upload-mb must be > 0" in capsys.readouterr().err


def test_launch_options(tmp_path):
    from app.server import create_app, launch_options

    demo, explorer = create_app(str(tmp_path), "cpu", dataset_dirs=[str(ROOT / "examples" / "pyramid_shapes")])
    options = launch_options(explorer, "127.0.0.1", 7860, False, 2.5)
    assert options["server_name"] == "127.0.0.1" and options["share"] is False and options["ssr_mode"] is False
    assert options["max_file_size"] == int(2.5 * 1024 * 1024)
    assert str(ROOT / "examples" / "pyramid_shapes" / "val") in options["allowed_paths"]
    assert not [f for f in options["theme"]._font if isinstance(f, gr.themes.GoogleFont)]
    assert demo.analytics_enabled is False
    assert [n for n in explorer.registry.notes if "No detection checkpoint" in n]  # an empty folder is explained


def test_c4_rois_defaults_to_the_registrys_and_0_means_as_evaluated(script, capsys):
    from app.models import C4_ROIS

    assert script.build_parser().parse_args([]).c4_rois == C4_ROIS
    assert script.build_parser().parse_args(["--c4-rois", "0"]).c4_rois == 0  # create_app gets None: 1000
    with pytest.raises(SystemExit):
        script.main(["--c4-rois", "-5"])
    assert "--c4-rois must be >= 0" in capsys.readouterr().err
