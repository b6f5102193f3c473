"""Benchmark: the image's size above its base, and what takes the space.

Builds the Dockerfile of the working tree with a real Docker engine (tests/containers/engine.py: found
or started, the stand-in base where no registry is reachable), then measures inside the image what
the virtualenv holds, per installed distribution (from each one's RECORD). Sizes are file bytes
(MB = 10^6 bytes); Docker's layer size adds a little for directories and the user entry.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.containers import engine  # noqa: E402

from common import Result, Row, log  # noqa: E402

#: Run inside the image: bytes per installed distribution, from the files its RECORD lists.
MEASURE = """
import importlib.metadata as md, json, os, sys
sizes = {}
for dist in md.distributions(path=[p for p in sys.path if p.startswith(sys.prefix)]):
    total = 0
    for f in dist.files or []:
        path = f.locate()
        if os.path.isfile(path):
            total += os.path.getsize(path)
    sizes[dist.metadata["Name"]] = total
venv = 0
for root, _, names in os.walk(sys.prefix):
    paths = [os.path.join(root, n) for n in names]
    venv += sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
print(json.dumps({"distributions": sizes, "venv": venv}))
"""


def _mb(n: float) -> str:
    return f"{n / 1e6:.0f} MB"


def run() -> Result:
    with engine.engine_session() as client:
        driver = client.info().get("Driver", "?")
        base = engine.build_stand_in_base(client)
        tag = f"employes-sync:bench-{int(time.time())}"
        built = engine.build_project_image(client, base, tag, {engine.SESSION_LABEL: "bench"}, no_cache=True)
        try:
            image, base_size = engine.image_size(client, tag), engine.image_size(client, base)
            out = client.containers.run(tag, ["-c", MEASURE], entrypoint=["python"], remove=True,
                                        network_mode="host", read_only=True)  # fmt: skip
            measured = json.loads(out.decode().strip().splitlines()[-1])
        finally:
            client.images.remove(tag, force=True)
    dists = sorted(measured["distributions"].items(), key=lambda kv: -kv[1])
    above = image - base_size
    top = ", ".join(f"{name} {_mb(size)}" for name, size in dists[:6])
    rest = sum(size for _, size in dists[6:])
    log(f"image {_mb(image)}, base {_mb(base_size)}, above {_mb(above)}; {top}")
    note = (
        f"venv {_mb(measured['venv'])}: {top}, {len(dists) - 6} others {_mb(rest)};"
        " no pip or setuptools in it. Base: the debootstrap stand-in for python:3.11.13-slim-bookworm"
        f" (no registry here; {_mb(base_size)}); storage driver {driver};"
        f" build {built.seconds:.0f} s with the base cached"
        + (
            f" and {built.cached_steps} steps from the build cache"
            if built.cached_steps
            else ", no build cache"
        )
    )
    what = "image above its base (the layers the Dockerfile adds)"
    ratio = f"{above / base_size:.2f}x base"
    rows = [
        Row("7. image size", what, _mb(above), f"base {_mb(base_size)}", ratio, "measured", "n/a", "1", note)
    ]
    raw = {"image_bytes": image, "base_bytes": base_size, "base": base, **measured, "storage_driver": driver,
           "build_seconds": built.seconds, "cached_steps": built.cached_steps}  # fmt: skip
    return Result("image", rows, raw=raw)
