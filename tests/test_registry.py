from pathlib import Path

import pytest
import yaml
from lnob import registry

pytestmark = pytest.mark.unit


def test_bundled_registry_is_valid():
    reg = registry.load()
    src = reg.source("aavn_household_survey")
    assert src.partner in reg.partners
    assert any(f.pseudonymise for f in src.fields)
    assert "sex" in src.codes


def test_broken_entry_is_reported_with_file_and_key_path(tmp_path: Path):
    doc = yaml.safe_load(registry.load().path.read_text())
    doc["sources"][0]["fields"][3]["type"] = "strnig"
    doc["sources"][0]["partner"] = "nobody"
    bad = tmp_path / "registry.yml"
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(registry.RegistryError) as err:
        registry.load(bad)
    message = str(err.value)
    assert f"{bad}: sources[0].fields[3].type: 'strnig' is not one of" in message
    assert f"{bad}: sources[0].partner: 'nobody' is not a registered partner" in message


def test_code_map_seed_is_current():
    """The committed dbt seed is what the registry generates (the DAG regenerates it too)."""
    reg = registry.load()
    seed = Path(__file__).resolve().parents[1] / "dbt_project/seeds/lnob/partner_code_map.csv"
    assert seed.read_text() == reg.code_map_csv()
