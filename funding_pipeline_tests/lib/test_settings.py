from pathlib import Path

import pytest

from funding_pipeline.lib.settings import BUNDLED_RECORDINGS, REPO_ROOT, SettingsError, load_settings


def test_defaults_resolve_to_absolute_repo_data():
    settings = load_settings({})

    assert settings.data_dir == (REPO_ROOT / "data").resolve()
    assert settings.data_dir.is_absolute()
    assert (settings.source, settings.clock, settings.exchanges) == ("live", "wall", None)
    assert settings.replay_dir == BUNDLED_RECORDINGS.resolve()


def test_relative_data_dir_is_resolved_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    settings = load_settings({"FUNDING_DATA_DIR": "rel/root"})

    assert settings.data_dir == tmp_path / "rel" / "root"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FUNDING_SOURCE": "file"}, "FUNDING_SOURCE='file' is not allowed; use one of: live, replay"),
        ({"FUNDING_CLOCK": "fast"}, "FUNDING_CLOCK='fast' is not allowed; use one of: wall, simulated"),
        ({"FUNDING_ALERT_WEBHOOK": "hooks.example"}, "FUNDING_ALERT_WEBHOOK='hooks.example' must be an http(s) URL"),
        (
            {"FUNDING_SOURCE": "replay", "FUNDING_CLOCK": "wall", "FUNDING_REPLAY_DIR": "/nonexistent/x"},
            "FUNDING_REPLAY_DIR='/nonexistent/x' is not a directory",
        ),
        (
            {"FUNDING_SOURCE": "live", "FUNDING_CLOCK": "simulated"},
            "FUNDING_CLOCK=simulated needs FUNDING_SOURCE=replay",
        ),
    ],
)
def test_invalid_values_name_the_variable(env, message):
    with pytest.raises(SettingsError) as err:
        load_settings(env)

    assert message in str(err.value)


def test_exchanges_list_checked_against_registry():
    settings = load_settings({"FUNDING_EXCHANGES": " binance, okx ,binance"}, known_exchanges=("binance", "okx"))
    assert settings.exchanges == ("binance", "okx")

    with pytest.raises(SettingsError, match="FUNDING_EXCHANGES names unknown exchange\\(s\\) ftx"):
        load_settings({"FUNDING_EXCHANGES": "binance,ftx"}, known_exchanges=("binance", "okx"))


def test_metadata_shows_root_source_clock(tmp_path):
    settings = load_settings(
        {"FUNDING_DATA_DIR": str(tmp_path), "FUNDING_SOURCE": "replay", "FUNDING_CLOCK": "simulated"}
    )

    meta = settings.as_metadata()

    assert meta["data_root"] == str(tmp_path)
    assert (meta["source"], meta["clock"], meta["exchanges"]) == ("replay", "simulated", "all")
    assert Path(meta["replay_dir"]).is_dir()
