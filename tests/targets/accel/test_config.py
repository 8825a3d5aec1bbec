"""Chip configuration: TOML overrides, errors that name the key, the energy table."""

from __future__ import annotations

import pytest
from snnc.targets.accel.config import DEFAULT, ChipConfig, EnergyTable, config_from_stored, load_config

from snnc.errors import FileError, UsageError


def test_toml_overrides_any_parameter(tmp_path):
    path = tmp_path / "chip.toml"
    path.write_text("[chip]\ncores_x = 4\nlanes = 32\n[energy]\npj_hop = 1.5\nsram_pj_per_64b = {8 = 5.0, 64 = 9.0}\n")
    config = load_config(path)
    assert (config.cores_x, config.cores_y, config.lanes) == (4, DEFAULT.cores_y, 32)
    assert config.energy.pj_hop == 1.5 and config.energy.sram_pj(8, 64) == 5.0
    assert config.hash() != DEFAULT.hash()
    assert config_from_stored(config.to_dict()) == config


@pytest.mark.parametrize("text, key", [
    ("[chip]\nlanez = 2\n", "lanez"),
    ("[chip]\nlanes = 0\n", "lanes"),
    ("[chip]\nclock_mhz = -5\n", "clock_mhz"),
    ("[chip]\nstate_bits = 12\n", "state_bits"),
    ("[energy]\npj_add8 = -1\n", "pj_add8"),
    ("[chip]\nchips = 0\n", "chips"),
    ("[chip]\nobjective = \"speed\"\n", "objective"),
    ("[chip]\nlink_gbs = 0\n", "link_gbs"),
    ("[chip]\ndram_gbs = -1\n", "dram_gbs"),
    ("[chip]\nlink_latency_ns = \"1\"\n", "link_latency_ns"),
    ("[chip]\nswap_batch = 0\n", "swap_batch"),
    ("[energy]\ndram_pj_per_byte = -1\n", "dram_pj_per_byte"),
    ("[gpu]\nx = 1\n", "gpu"),
    ("[chip\n", "TOML"),
])  # fmt: skip
def test_bad_configuration_is_a_usage_error_naming_the_key(tmp_path, text, key):
    path = tmp_path / "chip.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=key):
        load_config(path)


def test_missing_configuration_file(tmp_path):
    with pytest.raises(FileError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_sram_energy_follows_horowitz_points_and_width():
    table = EnergyTable()
    assert table.sram_pj(8, 64) == pytest.approx(10.0)
    assert table.sram_pj(32, 64) == pytest.approx(20.0)
    assert table.sram_pj(1024, 64) == pytest.approx(100.0)
    assert table.sram_pj(16, 64) == pytest.approx(15.0)  # halfway in log size between 8 and 32 KB
    assert table.sram_pj(8, 8) == pytest.approx(10.0 / 8)
    assert ChipConfig(sram_bank_kib=8).access_pj(128, 32) == pytest.approx(5.0)  # banked: one 8 KiB bank
