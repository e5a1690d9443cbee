"""Fetching checkpoint files: Hugging Face Hub handles and plain URLs.

Hub files go through keras-hub's `get_file` (so `huggingface_hub` caches
them as usual); URL files through `keras.utils.get_file` (checked against
their md5). Both would spend a long time retrying without a network
(`huggingface_hub` backs off for about 25 s per file), so the host is probed
once, with a short timeout, before anything is fetched: no network fails
at once with a message that names the source and says how to load from a
local directory instead.
"""

import os
import time

from keras_hub.src.utils.preset_utils import check_file_exists
from keras_hub.src.utils.preset_utils import get_file

from keras_encoders.convert.readers import hf_folder

# Seconds to wait for the host to answer the probe.
NETWORK_TIMEOUT = 5



class PresetDownloadError(ConnectionError):
    """A checkpoint or preset source could not be downloaded (no network, or offline mode)."""


# === Network ===
def hub_offline():
    """True when `huggingface_hub` is told not to use the network."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def hub_endpoint():
    try:
        from huggingface_hub import constants
    except ImportError:
        return "https://huggingface.co"
    return constants.ENDPOINT


def is_reachable(url, timeout=NETWORK_TIMEOUT):
    """Whether `url`'s server answers at all (any HTTP status counts).

    Goes through `requests`, so proxy settings apply as for the download.
    """
    try:
        import requests
    except ImportError:  # let the download itself report
        return True
    try:
        requests.head(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException:
        return False
    return True


def is_offline_error(error):
    """Whether `error` (or what caused it) is huggingface_hub's "not cached, no network"."""
    seen = set()
    while error is not None and id(error) not in seen:
        if type(error).__name__ in ("LocalEntryNotFoundError", "OfflineModeIsEnabled"):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


# === Hugging Face Hub ===
def fetch_hf_files(handle, files, optional_files=(), on_offline=None):
    """Download `files` (and whichever `optional_files` exist) of `handle`.

    Args:
        handle: `hf://owner/name`.
        files: required file names.
        optional_files: file names to fetch when the repository has them.
        on_offline: `callable(reason) -> Exception` raised when the hub
            cannot be reached.

    Returns:
        The local folder holding all of them (a `huggingface_hub` snapshot).
    """
    on_offline = on_offline or (lambda reason: PresetDownloadError(f"Cannot download {handle}: {reason}."))
    if not hub_offline() and not is_reachable(hub_endpoint()):
        raise on_offline(f"{hub_endpoint()} is not reachable (no network?)")
    paths = []
    for name in list(files) + list(optional_files):
        try:
            paths.append(get_file(handle, name))
        except FileNotFoundError as e:
            if name not in files:
                continue  # optional (offline, an uncached one is skipped too)
            if is_offline_error(e):
                why = (
                    "offline mode (HF_HUB_OFFLINE) is on"
                    if hub_offline()
                    else "the hub did not answer"
                )
                raise on_offline(f"{why} and {name} is not in the Hugging Face cache") from e
            raise FileNotFoundError(f"{handle} has no {name}.") from e
    directories = {os.path.dirname(p) for p in paths}
    if len(directories) != 1:
        raise RuntimeError(f"The files of {handle} landed in several folders: {sorted(directories)}.")
    return directories.pop()


def hf_layout_dir(preset, weights=True):
    """The local folder of a checkpoint in Hugging Face layout.

    A local folder is returned as it is. For a remote preset (`hf://...`)
    keras-hub fetches `config.json` only; this also fetches the tokenizer
    files and, when `weights`, the weights (safetensors or
    `pytorch_model.bin`, sharded or not) into the same snapshot folder.
    """
    config_path = get_file(preset, "config.json")
    directory = os.path.dirname(config_path)
    if os.path.isdir(preset):
        return directory
    for name in hf_folder.TOKENIZER_FILES:
        check_file_exists(preset, name)
    if weights:
        for name in hf_folder.WEIGHT_FILES:
            if check_file_exists(preset, name):
                if name.endswith(".index.json"):
                    for shard in hf_folder.shard_names(directory, name):
                        get_file(preset, shard)
                break
    return directory


def offline_advice(handle):
    """How to load `hf://owner/name` without network access."""
    repo = handle[len("hf://"):].strip("/")
    folder = repo.split("/")[-1]
    return (
        "Without network access, download the repository on a machine that has "
        f"it, e.g. `huggingface-cli download {repo} --local-dir {folder}`, copy "
        f"that folder here and load it by path: from_preset(\"./{folder}\"). If "
        "its files are already in the Hugging Face cache, set HF_HUB_OFFLINE=1."
    )


_REACHED = {}  # endpoint -> time it last answered
_REACH_MEMORY = 300  # seconds


def check_hub_reachable(handle):
    """Fail at once (not after minutes of retries) when the hub cannot be reached."""
    if hub_offline() or time.monotonic() - _REACHED.get(hub_endpoint(), -_REACH_MEMORY) < _REACH_MEMORY:
        return
    if is_reachable(hub_endpoint()):
        _REACHED[hub_endpoint()] = time.monotonic()
    else:
        raise PresetDownloadError(
            f"Cannot download {handle}: {hub_endpoint()} is not reachable (no "
            f"network?). {offline_advice(handle)}"
        )


def fetch_hf_checkpoint(handle):
    """A local snapshot of `hf://owner/name` with every file the converter reads."""
    repo = handle[len("hf://"):].strip("/")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:
        raise ImportError(
            f"Downloading {handle} needs huggingface_hub (pip install "
            "huggingface_hub), or download the repository yourself and pass "
            "its local folder."
        ) from e
    check_hub_reachable(handle)
    patterns = ["config.json", "*.safetensors", "pytorch_model*.bin"]
    patterns += list(hf_folder.WEIGHT_FILES) + list(hf_folder.TOKENIZER_FILES)
    try:
        return snapshot_download(repo_id=repo, allow_patterns=patterns)
    except Exception as e:  # noqa: BLE001 - offline, 404, auth: one message
        raise PresetDownloadError(
            f"Cannot download {handle} ({type(e).__name__}: {e}). {offline_advice(handle)}"
        ) from e


# === Plain URLs ===
def fetch_url_files(files, directory, on_offline=None):
    """Download `{file name: {"url", "md5"}}` into `directory` (md5-checked).

    Files already there with the right md5 are not downloaded again.

    Returns:
        `directory`.
    """
    import keras

    on_offline = on_offline or (lambda reason: PresetDownloadError(f"Cannot download: {reason}."))
    os.makedirs(directory, exist_ok=True)
    probed = set()
    for name, spec in files.items():
        target = os.path.join(directory, name)
        md5 = spec.get("md5")
        if os.path.exists(target) and (md5 is None or _md5(target) == md5):
            continue
        host = "/".join(spec["url"].split("/")[:3])
        if host not in probed:
            if not is_reachable(spec["url"]):
                raise on_offline(f"{host} is not reachable (no network?)")
            probed.add(host)
        keras.utils.get_file(
            fname=name,
            origin=spec["url"],
            file_hash=md5,
            hash_algorithm="md5" if md5 else "auto",
            cache_dir=os.path.dirname(directory),
            cache_subdir=os.path.basename(directory),
        )
    return directory


def _md5(path):
    import hashlib

    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
