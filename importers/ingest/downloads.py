"""Files a config gives by http(s) URL (key photos), fetched as the portal's importer fetches them: one GET.

A failure is one line that names the URL (:class:`DownloadError`); a download is bounded in time and in size.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from importers.version import package_version

#: Seconds to connect, and between two reads of the answer.
TIMEOUT_SECONDS = 30.0
#: A picture larger than this is refused rather than held in memory.
MAX_BYTES = 64 << 20


class DownloadError(ValueError):
    """A URL that could not be fetched; the message names it and says why in one line."""


def is_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


def url_suffix(url: str) -> str:
    """The extension of the URL's path (``.gif`` of ``https://host/icons/1-l.gif?v=2``), or ``""``."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    return name[name.rfind(".") :] if "." in name.strip(".") else ""


def download(url: str) -> bytes:
    """The body of a GET of ``url`` (redirects followed); raises :class:`DownloadError`."""
    request = urllib.request.Request(url, headers={"User-Agent": f"cryoet-ingest/{package_version()}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            declared = response.headers.get("Content-Length") or ""
            # An answer that says it is too large is not read at all; one that does not say is read to the limit.
            too_large = declared.isdigit() and int(declared) > MAX_BYTES
            data = b"" if too_large else response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: download failed: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise DownloadError(f"{url}: download failed: {error.reason}") from None
    except TimeoutError:
        raise DownloadError(f"{url}: download failed: no answer within {TIMEOUT_SECONDS:g} s") from None
    except (http.client.HTTPException, OSError, ValueError) as error:
        raise DownloadError(f"{url}: download failed: {error or type(error).__name__}") from None
    if too_large or len(data) > MAX_BYTES:
        raise DownloadError(f"{url}: larger than the {MAX_BYTES} byte limit of a picture")
    return data
