"""``python -m app``: Streamlit's upload limit follows the askdocs setting."""

from __future__ import annotations

import pytest

from app.__main__ import MAIN_SCRIPT, streamlit_command
from askdocs.settings import load_settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("megabytes,expected", [(50, "50"), (200, "200"), (0.5, "1"), (12.2, "13")])
def test_streamlits_upload_limit_is_the_setting_rounded_up(megabytes, expected, tmp_path):
    command = streamlit_command(load_settings(data_dir=tmp_path, max_upload_mb=megabytes), [])
    assert command[command.index("--server.maxUploadSize") + 1] == expected


def test_extra_options_go_to_streamlit_run_after_the_script(tmp_path):
    command = streamlit_command(load_settings(data_dir=tmp_path), ["--server.port", "9999"])
    assert command[1:5] == ["-m", "streamlit", "run", str(MAIN_SCRIPT)]
    assert command[-2:] == ["--server.port", "9999"]
    assert MAIN_SCRIPT.exists()
