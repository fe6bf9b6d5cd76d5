from pathlib import Path

import pytest
import yaml
from conftest import lnob
from lnob import registry

pytestmark = pytest.mark.unit

PROJECT = Path(__file__).resolve().parents[1]


def _broken(tmp_path: Path, edit) -> Path:
    doc = yaml.safe_load(registry.load().path.read_text())
    edit(doc)
    bad = tmp_path / "registry.yml"
    bad.write_text(yaml.safe_dump(doc, sort_keys=False))
    return bad


def _problems(path: Path) -> str:
    with pytest.raises(registry.RegistryError) as err:
        registry.load(path)
    return str(err.value)


def test_bundled_registry_covers_the_partnership():
    reg = registry.load()
    assert len(reg.icsos) == 12
    assert {"BGD", "IND", "KEN", "NPL", "VNM"} <= set(reg.countries)
    assert {s.type for s in reg.sources.values()} == registry.SOURCE_TYPES
    assert {p.kind for p in reg.partners.values()} == {"community", "official"}
    vn = reg.source("aavn_household_survey")
    assert vn.country == "VNM" and vn.format["encoding"] == "utf-8-sig"
    assert any(f.pseudonymise for f in vn.fields)
    assert vn.codes["sex"].codes["female"] == "F" and vn.codes["sex"].codes["2"] == "F"
    assert vn.codes["admin1"].codes["ha noi"] == "VN-HN"  # built from the country's areas
    plan = reg.source("plan_india_hotspot_survey")
    assert (plan.format["encoding"], plan.format["delimiter"]) == ("latin-1", ";")
    assert {f.label for f in plan.fields} >= {"HH_No", "Category"}  # the partner's own names
    for src in reg.sources.values():
        for f in src.fields:
            assert not (f.identifier and f.required)


def test_broken_entry_is_reported_with_file_and_key_path(tmp_path: Path):
    def edit(doc):
        doc["sources"][0]["fields"][3]["type"] = "strnig"
        doc["sources"][0]["partner"] = "nobody"

    bad = _broken(tmp_path, edit)
    message = _problems(bad)
    assert f"{bad}: sources[0].fields[3].type: 'strnig' is not one of" in message
    assert f"{bad}: sources[0].partner: 'nobody' is not a registered partner" in message


def test_typos_unknown_codes_and_dangling_references_are_named(tmp_path: Path):
    def edit(doc):
        doc["sources"][2]["fields"][4]["requried"] = True
        doc["code_maps"]["sex"]["codes"]["femme"] = "W"
        doc["partners"][0]["country"] = "ATL"
        doc["sources"][2]["fields"][5]["codes"] = "no_such_map"
        doc["sources"][2]["format"]["encoding"] = "utf-9"

    bad = _broken(tmp_path, edit)
    message = _problems(bad)
    assert "sources[2].fields[4].requried: unknown key (did you mean 'required'?)" in message
    assert "code_maps.sex.codes.femme: 'W' is not a canonical sex code (F, M, _O, _U)" in message
    assert "partners[0].country: 'ATL' is not in countries" in message
    assert "sources[2].fields[5].codes: 'no_such_map' is not a code map" in message
    assert "sources[2].format.encoding: 'utf-9' is not a known text encoding" in message


def test_registry_check_cli_reports_the_same_message(tmp_path: Path):
    bad = _broken(tmp_path, lambda doc: doc["sources"][1].__setitem__("type", "carrier_pigeon"))
    result = lnob("registry", "check", "--path", str(bad))
    assert result.returncode == 2
    assert f"{bad}: sources[1].type: 'carrier_pigeon' is not one of" in result.stderr
    ok = lnob("registry", "check")
    assert ok.returncode == 0 and "aavn_household_survey" in ok.stdout


def test_registry_owned_seeds_are_current():
    """The committed dbt seeds are what the registry generates (the DAG regenerates them too)."""
    reg = registry.load()
    seeds = PROJECT / "dbt_project/seeds/lnob"
    assert (seeds / "partner_code_map.csv").read_text() == reg.code_map_csv()
    assert (seeds / "lnob_custom_breakdowns.csv").read_text() == reg.custom_breakdowns_csv()
    assert (seeds / "lnob_countries.csv").read_text() == reg.countries_csv()
    assert (seeds / "lnob_areas.csv").read_text() == reg.areas_csv()


def test_a_set_of_choices_needs_a_code_map(tmp_path: Path):
    def edit(doc):
        kobo = next(s for s in doc["sources"] if s["id"] == "brac_uhc_survey")
        field = next(f for f in kobo["fields"] if f["name"] == "water_source")
        del field["codes"]
    problems = _problems(_broken(tmp_path, edit))
    assert "fields[" in problems and ".multiple: a set of choices needs `type: text` and `codes`" in problems


def test_kobotoolbox_review_state_and_select_multiple_are_in_the_registry():
    src = registry.load().source("brac_uhc_survey")
    assert src.multiple_fields == ["water_source"]
    review = next(f for f in src.fields if f.name == "review_state")
    assert review.label == "_validation_status/uid"
    assert src.codes[review.codes].codes["validation_status_not_approved"] == "rejected"
    assert src.codes[review.codes].codes["validation_status_on_hold"] == "hasIssues"
    assert {"_geolocation", "_attachments"} <= set(src.format["discard"])
