"""``{"class_name", "config"}`` round trips that only ever build classes of a table."""

from __future__ import annotations

import json

import pytest

from deepdescent.utils._config import deserialize, serialize


class Scale:
    def __init__(self, factor: float = 1.0, name: str = "scale") -> None:
        self.factor, self.name = factor, name

    def get_config(self) -> dict:
        return {"factor": self.factor, "name": self.name}


class Shift(Scale):
    pass


TABLE = {"Scale": Scale, "Shift": Shift}


def test_serialize_is_the_class_name_and_the_config():
    assert serialize(Shift(2.5, name="s")) == {
        "class_name": "Shift",
        "config": {"factor": 2.5, "name": "s"},
    }


def test_round_trip_through_json_rebuilds_the_same_class_and_config():
    original = Shift(0.25, name="quarter")
    rebuilt = deserialize("thing", json.loads(json.dumps(serialize(original))), TABLE)
    assert type(rebuilt) is Shift
    assert rebuilt.get_config() == original.get_config()


@pytest.mark.parametrize("config", [None, {}])
def test_a_missing_or_empty_config_takes_the_defaults(config):
    rebuilt = deserialize("thing", {"class_name": "scale", "config": config}, TABLE)
    assert type(rebuilt) is Scale and rebuilt.get_config() == {"factor": 1.0, "name": "scale"}


def test_a_class_outside_the_table_is_refused():
    with pytest.raises(
        ValueError, match=r"^Unknown thing 'os\.system'\..*Valid names: Scale, Shift"
    ):
        deserialize("thing", {"class_name": "os.system", "config": {}}, TABLE)


@pytest.mark.parametrize("spec", ["Scale", {"config": {}}, ["Scale"]])
def test_a_spec_without_class_name_is_refused(spec):
    with pytest.raises(ValueError, match=r"^thing config must be a dict with 'class_name', got "):
        deserialize("thing", spec, TABLE)
