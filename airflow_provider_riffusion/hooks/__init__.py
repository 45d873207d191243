"""The only door to the API (``riffusion.py``). This package's own module stays light: operators read it at parse."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_riffusion.hooks.riffusion import RiffusionHook


class UsesRiffusionHook:
    """A task's hook: one per task instance, so one HTTP session serves every call (and poke) of a try."""

    riffusion_conn_id: str

    @property
    def hook(self) -> RiffusionHook:
        if not hasattr(self, "_hook"):
            # The HTTP clients load when a task runs, never when a DAG file is parsed.
            from airflow_provider_riffusion.hooks.riffusion import RiffusionHook

            self._hook = RiffusionHook(riffusion_conn_id=self.riffusion_conn_id)
        return self._hook
