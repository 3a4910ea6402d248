"""Offline STAC validation (stac_offline.py) against the vendored schemas in data/stac-schemas."""

import copy
import json
import urllib.request
from pathlib import Path

import pystac
import pytest

import stac_offline
from stac_offline import NetworkBlocked, SchemaNotVendored, validate

DATA = Path(__file__).resolve().parent / "data"

DATACUBE = "https://stac-extensions.github.io/datacube/v2.2.0/schema.json"
PROJ_V2 = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
PROJ_V11 = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
XARRAY = "https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json"
PROCESSING_V11 = "https://stac-extensions.github.io/processing/v1.1.0/schema.json"

# A 2048 x 2048 10 m grid in UTM 32N, 12 monthly bins of 2024.
X0, Y1, RES, N = 600000.0, 5000000.0, 10.0, 2048
TRANSFORM = [RES, 0.0, X0, 0.0, -RES, Y1]
EXTENT_X = [X0 + RES / 2, X0 + RES * N - RES / 2]
EXTENT_Y = [Y1 - RES * N + RES / 2, Y1 - RES / 2]


def cube_collection(stac_version: str = "1.1.0") -> dict:
    """A datacube Collection as the cube tool may describe one Zarr store."""
    v11 = stac_version == "1.1.0"
    proj_fields = {"proj:code": "EPSG:32632"} if v11 else {"proj:epsg": 32632}
    return {
        "type": "Collection",
        "stac_version": stac_version,
        "stac_extensions": [DATACUBE, PROJ_V2 if v11 else PROJ_V11, XARRAY],
        "id": "po-valley-2024",
        "description": "Monthly cloud-free median mosaics of Sentinel-2 L2A.",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[8.99, 44.9, 9.27, 45.1]]},
            "temporal": {"interval": [["2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z"]]},
        },
        "links": [],
        "cube:dimensions": {
            "time": {
                "type": "temporal",
                "extent": ["2024-01-01T00:00:00Z", "2024-12-01T00:00:00Z"],
                "step": "P1M",
            },
            "y": {
                "type": "spatial",
                "axis": "y",
                "extent": EXTENT_Y,
                "step": -RES,
                "reference_system": 32632,
            },
            "x": {
                "type": "spatial",
                "axis": "x",
                "extent": EXTENT_X,
                "step": RES,
                "reference_system": 32632,
            },
        },
        "cube:variables": {
            "red": {
                "type": "data",
                "dimensions": ["time", "y", "x"],
                "data_type": "uint16",
                "nodata": 0,
                "unit": "1",
            },
            "nir": {
                "type": "data",
                "dimensions": ["time", "y", "x"],
                "data_type": "uint16",
                "nodata": 0,
            },
            "count": {
                "type": "auxiliary",
                "dimensions": ["time", "y", "x"],
                "data_type": "uint16",
                "description": "Valid observations per pixel and bin.",
            },
        },
        "assets": {
            "data": {
                "href": "po-valley-2024.zarr",
                "type": "application/vnd+zarr",
                "roles": ["data"],
                "xarray:open_kwargs": {"consolidated": True, "engine": "zarr"},
                **proj_fields,
                "proj:shape": [N, N],
                "proj:transform": TRANSFORM,
                "proj:bbox": [X0, Y1 - RES * N, X0 + RES * N, Y1],
            }
        },
    }


@pytest.mark.parametrize("stac_version", ["1.1.0", "1.0.0"])
def test_valid_datacube_collection(stac_version):
    coll = cube_collection(stac_version)
    checked = validate(coll)
    assert checked[0] == (
        f"https://schemas.stacspec.org/v{stac_version}/collection-spec/json-schema/collection.json"
    )
    assert set(checked[1:]) == set(coll["stac_extensions"])


def test_valid_collection_as_pystac_object():
    coll = pystac.Collection.from_dict(cube_collection("1.1.0"))
    checked = validate(coll)
    assert DATACUBE in checked and PROJ_V2 in checked


def test_spatial_dimension_without_axis_fails():
    coll = cube_collection()
    del coll["cube:dimensions"]["x"]["axis"]
    with pytest.raises(pystac.STACValidationError, match="datacube"):
        validate(coll)


def test_variable_without_dimensions_fails():
    coll = cube_collection()
    del coll["cube:variables"]["red"]["dimensions"]
    with pytest.raises(pystac.STACValidationError, match="datacube"):
        validate(coll)


def test_datacube_schema_does_not_check_variable_type():
    """The datacube v2.2.0 JSON schema names the variable's type property `variable_type`
    while the extension's text (and pystac) use `type`: a wrong `type` is not caught. Write
    `type` as the text says; this documents the schema's gap so nobody relies on it."""
    coll = cube_collection()
    coll["cube:variables"]["red"]["type"] = "band"
    validate(coll)


def test_bad_extent_fails():
    coll = cube_collection()
    coll["extent"]["spatial"]["bbox"] = [[8.99, 44.9, 9.27]]
    with pytest.raises(pystac.STACValidationError, match="collection.json"):
        validate(coll)


def test_bad_projection_fields_fail():
    coll = cube_collection()
    coll["assets"]["data"]["proj:shape"] = [N]
    with pytest.raises(pystac.STACValidationError, match="projection"):
        validate(coll)


def test_unvendored_extension_fails_loudly_without_fetching():
    coll = cube_collection()
    coll["stac_extensions"].append("https://stac-extensions.github.io/not-vendored/v9.9.9/schema.json")
    with pytest.raises(SchemaNotVendored, match="not-vendored/v9.9.9"):
        validate(coll)


def test_network_is_blocked_while_validating():
    with stac_offline.no_network():
        with pytest.raises(NetworkBlocked):
            urllib.request.urlopen("https://schemas.stacspec.org/", timeout=5)


def test_every_vendored_schema_loads_and_says_where_it_lives():
    uris = stac_offline.vendored_uris()
    assert len(uris) >= 30
    for uri in uris:
        schema = stac_offline.load_schema(uri)
        schema_id = schema.get("$id", "")
        if uri.startswith("https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/common.json"):
            continue  # upstream's v1.1.0 common.json declares ".../commonjson" (sic)
        assert schema_id.rstrip("#") == uri, (uri, schema_id)


# --- one genuine Earth Search item ---------------------------------------------------------

def earth_search_item() -> dict:
    return json.loads((DATA / "earth-search-sentinel-2-l2a-item.json").read_text())


def test_genuine_earth_search_item_is_invalid_for_a_genuine_reason():
    """Earth Search writes `s2:sequence`, which the sentinel-2 v1.0.0 schema does not define and
    forbids (no unknown `s2:` fields): the item really does not validate, offline or online."""
    item = earth_search_item()
    assert item["properties"]["s2:sequence"] == "0"
    with pytest.raises(pystac.STACValidationError, match="s2:sequence"):
        validate(item)


def test_genuine_earth_search_item_without_s2_sequence():
    """Without `s2:sequence` the item validates against the core 1.0.0 schema and every extension
    that is vendored; processing v1.1.0 is in no PyPI package we found, so it must be ignored by
    name, and without that it fails loudly."""
    item = earth_search_item()
    del item["properties"]["s2:sequence"]
    with pytest.raises(SchemaNotVendored, match="processing/v1.1.0"):
        validate(copy.deepcopy(item))
    checked = validate(item, ignore_extensions=[PROCESSING_V11])
    assert checked[0] == "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/item.json"
    assert set(checked[1:]) == set(item["stac_extensions"]) - {PROCESSING_V11}
    assert PROJ_V11 in checked


def test_genuine_earth_search_item_broken_projection_fails():
    item = earth_search_item()
    del item["properties"]["s2:sequence"]
    item["properties"]["proj:epsg"] = "32632"  # must be an integer
    with pytest.raises(pystac.STACValidationError, match="projection"):
        validate(item, ignore_extensions=[PROCESSING_V11])
