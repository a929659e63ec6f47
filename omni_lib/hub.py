"""Files from the Hugging Face hub that fail fast and clearly when there is no hub.

``huggingface_hub`` retries an unreachable host for about 25–50 s before giving up. The course
runs on machines without internet (CI, offline laptops), so :func:`hub_file` first uses a cached
copy, then checks in about a second whether the hub answers at all, and only then downloads.

    >>> import os; os.environ["HF_HUB_OFFLINE"] = "1"
    >>> hub_file("hubertsiuzdak/snac_24khz", "config.json", what="the SNAC codec")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    omni_lib.hub.HubUnavailable: the SNAC codec: 'hubertsiuzdak/snac_24khz' is not cached and the Hugging Face hub is off (HF_HUB_OFFLINE=1)...
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse


class HubUnavailable(FileNotFoundError):
    """A hub asset that is neither cached nor downloadable here."""


@functools.lru_cache(maxsize=None)
def hub_reachable(timeout: float = 1.5) -> bool:
    """Whether the hub's host resolves and accepts a TCP connection within ``timeout`` seconds."""
    if _offline_env():
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def hub_file(repo_id: str, filename: str, *, what: str, how: str = "") -> str:
    """Local path of ``filename`` in hub repo ``repo_id``: cached, else downloaded, else a clear error.

    ``what`` names the asset for the message; ``how`` adds what to do instead (e.g. an offline option).
    """
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(repo_id, filename, local_files_only=True)     # already cached: no network
    except Exception:
        pass
    if not hub_reachable():
        reason = "the Hugging Face hub is off (HF_HUB_OFFLINE=1)" if _offline_env() else \
            "the Hugging Face hub cannot be reached from this machine"
        raise HubUnavailable(
            f"{what}: {repo_id!r} is not cached and {reason}. Download it once where there is internet:\n"
            f"  huggingface-cli download {repo_id} --local-dir DIR\nthen pass DIR instead of the hub name."
            + (f"\n{how}" if how else ""))
    return hf_hub_download(repo_id, filename)


def _offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
