"""HTTP calls for the walkthrough's Python steps: (status, body, headers),
with error statuses returned rather than raised."""
import urllib.error
import urllib.request


def fetch(url, headers=None, data=None):
    req = urllib.request.Request(url, headers=headers or {}, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers
