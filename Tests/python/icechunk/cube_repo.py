"""icechunk-python's view of a cube's Icechunk repository, for the 3.11 test suite (which
cannot import icechunk 2.x): runs under .venv-icechunk and answers in JSON or .npz.

  cube_repo.py LOCATION read OUT.npz [--version ID|TAG] [--arrays a,b]  arrays via xarray
  cube_repo.py LOCATION info                                           ancestry, tags, inspect
  cube_repo.py LOCATION add-array NAME                                 a commit of icechunk's own

LOCATION: a folder, or s3://bucket/prefix with AWS_ENDPOINT_URL set (moto)."""
from __future__ import annotations

import json
import os
import sys
from urllib.parse import urlparse

import icechunk
import numpy as np
import xarray as xr
import zarr


def storage(location: str):
    location = location.removeprefix("icechunk:")
    if location.startswith("s3://"):
        u = urlparse(location)
        return icechunk.s3_storage(bucket=u.netloc, prefix=u.path.strip("/"), endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                                   allow_http=True, force_path_style=True, region="us-east-1",
                                   access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                                   secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
    return icechunk.local_filesystem_storage(location)


def session(repo, version: str | None):
    if version is None:
        return repo.readonly_session(branch="main")
    if version in repo.list_tags():
        return repo.readonly_session(tag=version)
    return repo.readonly_session(snapshot_id=version)


def main() -> None:
    location, command, *rest = sys.argv[1:]
    repo = icechunk.Repository.open(storage(location))
    if command == "read":
        out = rest[0]
        version = rest[rest.index("--version") + 1] if "--version" in rest else None
        s = session(repo, version)
        ds = xr.open_zarr(s.store, consolidated=False, mask_and_scale=False)  # raw DN, as the reference
        group = zarr.open_group(s.store, mode="r")
        arrays = {name: np.asarray(ds[name].values) for name in ds.data_vars if ds[name].dtype.kind in "uifM"}
        for name in ("time", "x", "y"):
            if name in ds.coords:
                arrays["coord_" + name] = np.asarray(ds[name].values).astype("datetime64[ns]").astype("int64") \
                    if ds[name].dtype.kind == "M" else np.asarray(ds[name].values)
        extra = {k: np.asarray(group[k][:]) for k in group.array_keys() if k not in arrays and k not in ds.coords and group[k].ndim <= 3}
        arrays.update({"raw_" + k: v for k, v in extra.items()})
        np.savez(out, **arrays)
        print(json.dumps({"snapshot": s.snapshot_id, "attrs": dict(group.attrs), "sizes": dict(ds.sizes),
                          "vars": sorted(ds.data_vars), "groups": sorted(group.group_keys())}, default=str))
    elif command == "info":
        log = [{"id": c.id, "message": c.message, "parent": c.parent_id, "metadata": c.metadata}
               for c in repo.ancestry(branch="main")]
        tip = log[0]["id"]
        snap = repo.inspect_snapshot(tip)
        snap = json.loads(snap) if isinstance(snap, str) else snap
        # Every manifest the snapshot lists, as icechunk-python inspects it: sizes and counts
        # must agree with the snapshot's list, and refs add up per array.
        ids = {n["id"]: n["path"] for n in snap["nodes"]}
        refs: dict[str, int] = {}
        mismatches = []
        for listed in snap["manifests"]:
            m = repo.inspect_manifest(listed["id"])
            # size_bytes in the snapshot is the object's size, as icechunk itself lists it
            # (inspect_manifest's size_bytes is the decoded FlatBuffer's).
            local = None if location.startswith(("s3://", "icechunk:s3://")) else \
                os.path.getsize(os.path.join(location.removeprefix("icechunk:"), "manifests", listed["id"]))
            if m["total_chunk_refs"] != listed["num_chunk_refs"] or (local is not None and local != listed["size_bytes"]):
                mismatches.append(listed["id"])
            for a in m["arrays"]:
                refs[ids[a["node_id"]]] = refs.get(ids[a["node_id"]], 0) + a["num_chunk_refs"]
        info = repo.inspect_repo_info()
        print(json.dumps({"ancestry": log, "tags": {t: repo.lookup_tag(t) for t in repo.list_tags()},
                          "branches": sorted(repo.list_branches()), "snapshot": snap, "refs_per_array": refs,
                          "manifest_mismatches": mismatches, "repo_info": info}, default=str))
    elif command == "add-array":
        name = rest[0]
        w = repo.writable_session("main")
        group = zarr.open_group(w.store, mode="a")
        a = group.create_array(name, shape=(4, 5), chunks=(2, 5), dtype="int16", dimension_names=("flag_row", "flag_col"))
        a[:] = np.arange(20, dtype="int16").reshape(4, 5)
        print(json.dumps({"snapshot": w.commit(f"icechunk-python adds {name}")}))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
