"""docker-compose.yml is for production; no engine runs here, so check it against the Compose
Specification's JSON schema and check every image is pinned."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "reference" / "compose" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.mark.skipif(not SCHEMA.exists(), reason="shared/reference is not beside this checkout")
def test_compose_file_matches_the_compose_specification(compose):
    jsonschema.validate(compose, json.loads(SCHEMA.read_text()))


def test_airflow_3_stack_warehouse_and_bi_are_there_with_pinned_images(compose):
    services = compose["services"]
    for name in ["airflow-db", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                 "airflow-triggerer", "airflow-worker", "warehouse", "metabase"]:
        assert name in services, name
    for name, svc in services.items():
        image = svc.get("image")
        assert image, f"{name} has no image"
        tag = image.rsplit(":", 1)[-1] if ":" in image else ""
        assert tag and tag != "latest", f"{name}: image {image} is not pinned"
