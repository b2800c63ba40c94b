"""The stand-in's Docker HEALTHCHECK, as the platform's images probe themselves: api GETs its
/health (api/Dockerfile: curl -f), web its / (web/Dockerfile: wget --spider). The body is
printed, so Docker's health log holds the api's /health answer (kgop reads "degraded" there).
"""

import os
import sys
import urllib.error
import urllib.request

api = os.environ.get("KG_ROLE", "api") == "api"
url = "http://127.0.0.1:8000/health" if api else "http://127.0.0.1/"
try:
    with urllib.request.urlopen(url, timeout=8) as response:
        body = response.read().decode("utf-8", "replace")
except urllib.error.HTTPError as exc:
    print(f"{url} answered {exc.code}: {exc.read().decode('utf-8', 'replace')[:1500]}")
    sys.exit(1)
except OSError as exc:
    print(f"{url}: {exc}")
    sys.exit(1)
print(body[:2000] if api else f"{url} answered 200")
