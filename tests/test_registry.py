from pathlib import Path

import pytest
import yaml
from helpers import lnob
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


def test_committed_dbt_files_follow_the_registry():
    """Every staging model, the raw sources' yml and the staged-model lists are what the registry
    generates: a registry edit without `lnob registry generate` (or a hand edit of a generated file)
    fails here. The night writes them too, so a registry edit alone onboards a source."""
    from lnob.registry import dbt_files

    reg = registry.load()
    assert dbt_files.drift(reg, PROJECT / "dbt_project") == []
    persons = set(dbt_files.staged_models_macro(reg).split("'persons': [")[1].split("]")[0].split(", "))
    assert {
        f"'{dbt_files.model_name(s)}'"
        for s in reg.sources.values()
        if s.entity in ("person", "household_member")
    } == persons


def _second_odk_form(doc: dict) -> None:
    """A second ODK Central form in ActionAid Kenya's shape, by a new partner: registry lines only."""
    aak = next(s for s in doc["sources"] if s["id"] == "aak_clm_survey")
    doc["partners"].append(
        {
            "id": "kenya_youth_clm",
            "name": "Kenya youth-led monitoring network",
            "kind": "community",
            "country": "KEN",
            "icso": "actionaid",
        }
    )
    doc["sources"].append(
        {
            **aak,
            "id": "kyc_clm_survey",
            "partner": "kenya_youth_clm",
            "connection": "lnob_odk_kyc",
            "format": {**aak["format"], "project_id": 9, "form_id": "youth_clm_2026"},
        }
    )


def test_a_registered_source_gets_its_staging_model_and_a_removed_one_loses_it(tmp_path: Path):
    import shutil

    from lnob.registry import dbt_files

    dbt = tmp_path / "dbt_project"
    shutil.copytree(PROJECT / "dbt_project", dbt, ignore=shutil.ignore_patterns("target", "logs"))
    added = registry.load(_broken(tmp_path, _second_odk_form))
    written = registry.write_dbt_files(added, dbt)
    model = dbt / "models/staging/community/stg_kyc_clm_survey__persons.sql"
    assert model in written
    text = model.read_text()
    assert text.startswith(f"-- {dbt_files.MARKER}")
    # the same harmonisation as the form it copies, under its own id and country
    original = (PROJECT / "dbt_project/models/staging/community/stg_aak_clm_survey__persons.sql").read_text()
    assert text.split("{{ stage_persons(")[1] == original.split("{{ stage_persons(")[1].replace(
        "'aak_clm_survey'", "'kyc_clm_survey'"
    )
    assert "kyc_clm_survey" in (dbt / "models/staging/_raw__sources.yml").read_text()
    assert "'stg_kyc_clm_survey__persons'" in (dbt / "macros/generated/staged_models.sql").read_text()
    assert "kyc_clm_survey" in (dbt / "seeds/lnob/lnob_sources.csv").read_text()
    assert dbt_files.drift(added, dbt) == []
    # the source leaves the registry: its model goes, nothing else generated stays behind
    removed = registry.write_dbt_files(registry.load(), dbt)
    assert model in removed and not model.exists()
    assert dbt_files.drift(registry.load(), dbt) == []


def test_harmonise_names_what_it_cannot_place(tmp_path: Path):
    def edit(doc):
        src = next(s for s in doc["sources"] if s["id"] == "wnta_hotspot_survey")
        src["harmonise"] = {
            "person_pid": ["household_id", "member_number"],
            "caste_grup": "caste",
            "water_safe": "person_name",
        }
        doc["sources"][-1]["harmonise"] = {"sex": "sex"}

    text = _problems(_broken(tmp_path, edit))
    assert "harmonise.person_pid: 'member_number' is not a field of this source" in text
    assert "harmonise.caste_grup: not a harmonised person column (did you mean 'caste_group'?)" in text
    assert "harmonise.water_safe: 'person_name' is an identifier or free text and never leaves raw" in text
    assert "harmonise: only a person or household_member source is harmonised by column" in text

    def no_person(doc):
        src = next(s for s in doc["sources"] if s["id"] == "aavn_household_survey")
        src["fields"] = [f for f in src["fields"] if f["name"] != "person_id"]

    assert "harmonise: source aavn_household_survey: person_pid is made of person_id" in _problems(
        _broken(tmp_path, no_person)
    )


def test_a_person_model_names_only_what_differs_from_the_defaults(tmp_path: Path):
    from lnob.registry import dbt_files

    defaults = dbt_files.person_defaults()
    assert defaults and set(defaults) <= set(dbt_files.person_columns()) - dbt_files.PERSON_LINEAGE
    reg = registry.load()
    persons = [s for s in reg.sources.values() if s.entity in registry.PERSON_ENTITIES]
    assert len(persons) == 6
    for src in persons:
        declared = dbt_files.person_declared(src)
        assert not set(declared.items()) & set(defaults.items()), src.id
        # the macro's merge: the defaults, record_key as person_pid, then what the source declares
        merged = {**defaults, "record_key": declared.get("person_pid", defaults["person_pid"]), **declared}
        assert {k: v for k, v in merged.items() if v != "none"} == dbt_files.person_mapping(src), src.id

    def edit(doc):
        src = next(s for s in doc["sources"] if s["id"] == "wnta_hotspot_survey")
        src["harmonise"].pop("water_safe")
        src["fields"] = [f for f in src["fields"] if f["name"] not in ("water_source", "urbanisation")]

    wnta = registry.load(_broken(tmp_path, edit)).source("wnta_hotspot_survey")
    declared = dbt_files.person_declared(wnta)
    assert declared["water_safe"] == "none" and declared["urbanisation"] == "none"
    assert "record_key" not in declared  # household and member number, as person_pid


def test_committed_raw_suites_are_what_the_contracts_imply(tmp_path: Path, monkeypatch):
    """Each source's committed raw GX suite checks what its registry contract implies (the raw
    gate rewrites a stale one before it runs, and that rewrite must never be needed on main)."""
    import shutil

    from lnob.platform.config import settings
    from lnob.quality import gates

    shutil.copytree(
        PROJECT / "expectations",
        tmp_path / "expectations",
        ignore=shutil.ignore_patterns("data_docs", "validations", "uncommitted"),
    )
    monkeypatch.setenv("LNOB_GX_PROJECT_DIR", str(tmp_path / "expectations"))
    reg = registry.load()
    ctx = gates.context(settings())
    stale = [s for s in reg.sources if not gates.raw_suite_is_current(ctx, reg, s)]
    assert stale == [], f"run `lnob gates scaffold` for: {stale}"
    # the mart suites' codelists (areas, groups, declared series) follow the committed seeds; the
    # mart gate rewrites stale ones before it runs, and that must never be needed on main either
    monkeypatch.setenv("LNOB_DBT_PROJECT_DIR", str(PROJECT / "dbt_project"))
    assert gates.mart_suites_are_current(ctx, settings()), "run `lnob gates scaffold`"


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


def test_every_section_reports_its_problems_by_key_path_all_at_once(tmp_path: Path):
    def edit(doc):
        doc["icsos"][1]["id"] = doc["icsos"][0]["id"]
        doc["countries"][0]["iso3"] = "bgd"
        doc["countries"][0]["m49"] = "0050"
        doc["countries"][0]["areas"][1]["code"] = doc["countries"][0]["areas"][0]["code"]
        doc["groups"][1]["cust_breakdown"] = doc["groups"][0]["cust_breakdown"]
        doc["groups"][1]["dimension"] = "hair_colour"
        doc["code_maps"] = {**doc["code_maps"], "colour": {"canonical": "colour", "codes": {"r": "R"}}}
        doc["partners"][0]["members"] = [*doc["partners"][0]["members"], "nobody"]
        doc["partners"][1]["id"] = doc["partners"][0]["id"]
        doc["sources"][1]["id"] = doc["sources"][0]["id"]
        doc["sources"][4].pop("connection")
        doc["sources"][2]["fields"][0]["identifier"] = "yes"
        doc["sources"][2]["fields"][1] = "just a name"
        doc["sources"][3]["description"] = ["not", "text"]

    with pytest.raises(registry.RegistryError) as err:
        registry.load(_broken(tmp_path, edit))
    expected = [
        "icsos[1].id: duplicate ICSO id 'actionaid'",
        "countries[0].iso3: 'bgd' is not an ISO 3166 alpha-3 code (three capitals)",
        "countries[0].m49: '0050' is not a UN M49 code (1-3 digits, quoted)",
        "countries[0].areas[1].code: duplicate area code 'BD-A'",
        "groups[1].cust_breakdown: 'C01' is used by another group",
        "groups[1].dimension: 'hair_colour' is not one of",
        "code_maps.colour.canonical: 'colour' is not one of",
        "partners[0].members[3]: 'nobody' is not in icsos",
        "partners[1].id: duplicate partner id 'brac_bangladesh'",
        "sources[1].id: duplicate source id 'brac_uhc_survey'",
        "sources[2].fields[0].identifier: expected true or false, found 'yes'",
        "sources[2].fields[1]: expected a mapping with name and type, found 'just a name'",
        "sources[3].description: expected text, found list",
        "sources[4].connection: missing (required for a odk_central source",
    ]
    found = [next((i for i, p in enumerate(err.value.problems) if p.startswith(e)), None) for e in expected]
    assert None not in found, [e for e, i in zip(expected, found, strict=True) if i is None]
    assert found == sorted(found)  # reported section by section, in the file's order


def test_a_registry_is_parsed_again_only_when_its_file_or_seeds_change(tmp_path):
    """One parse per process for the same bytes and seeds (a night's tasks load it ~30 times);
    each caller gets its own copy; an edited file is parsed again; an invalid one fails every time."""
    path = tmp_path / "registry.yml"
    path.write_bytes(registry.load().path.read_bytes())
    first, second = registry.load(path), registry.load(path)
    assert first == second and first is not second and first.partners is not second.partners
    first.partners.clear()  # what one caller does to its copy, the next does not see
    assert registry.load(path).partners == second.partners
    doc = yaml.safe_load(path.read_text())
    doc["partners"][0]["name"] = "A renamed partner"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert registry.load(path).partners[doc["partners"][0]["id"]].name == "A renamed partner"
    path.write_text("partners: [")
    for _ in range(2):
        assert "not valid YAML" in _problems(path)
