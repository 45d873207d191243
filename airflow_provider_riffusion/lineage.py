"""Lineage: what the provider read and wrote, as Airflow's hook lineage collector and OpenLineage see it.

The hook reports the source of every upload as an input and every stored song as an output through
common-compat's collector (the one with ``add_input_asset`` on Airflow 2.11 too; the ``compat.sdk``
re-export lacks it there). Operators turn the same URIs into OpenLineage datasets when
``apache-airflow-providers-openlineage`` is installed. Lineage is a courtesy: it never fails a task.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)


def report(context: Any, *, inputs: Sequence[str] = (), outputs: Sequence[str] = ()) -> None:
    """Tell Airflow's hook lineage collector what ``context`` (a hook) read and wrote, by URI."""
    try:
        from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

        collector = get_hook_lineage_collector()
        for uri in inputs:
            collector.add_input_asset(context=context, uri=uri)
        for uri in outputs:
            collector.add_output_asset(context=context, uri=uri)
    except Exception:
        log.debug("Could not report lineage of %s", context, exc_info=True)


def openlineage_dataset(uri: str) -> Any:
    """An OpenLineage dataset for a URI, named as OpenLineage names them: ``file`` + absolute path for local
    files, ``scheme://bucket`` + key for object stores."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return Dataset(namespace="file", name=unquote(parts.path) or uri)
    return Dataset(namespace=f"{parts.scheme}://{parts.netloc}", name=unquote(parts.path).lstrip("/"))


def operator_lineage(inputs: Sequence[str], outputs: Sequence[str]) -> Any:
    """``OperatorLineage`` for ``get_openlineage_facets_on_complete`` (imported only when OpenLineage asks)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(
        inputs=[openlineage_dataset(uri) for uri in inputs],
        outputs=[openlineage_dataset(uri) for uri in outputs],
    )
