"""A flow the failure-analysis tests serve as a deployment: it fails the way real jobs fail — always, on a refused
connection; or once, until an outside condition (a marker file) has changed."""

from __future__ import annotations

from pathlib import Path

from prefect import flow


@flow(name="warehouse_load")
def warehouse_load(marker: str = "", always_fail: bool = False) -> str:
    if always_fail:
        raise ConnectionRefusedError("warehouse at 127.0.0.1:1 refused the connection")
    if marker and not Path(marker).exists():
        Path(marker).touch()
        raise TimeoutError("warehouse busy, try again later")
    return "loaded"
