#!/usr/bin/env python3
"""Timing client of bench/reconcile.sh (Python 3 standard library only).

  reconcile-client.py wait-synced --daemon URL --rev SHA [--target NAME] [--since EPOCH] [--timeout S]
                                  [--interval S]
      Polls portcullisd's /v1/targets every 5 ms (--interval) until the target is Synced at SHA; prints one
      JSON object: wallMs (from --since, a time.time() value, else from the call), lastSyncMs,
      objects, polls.

  reconcile-client.py push-loop --clone DIR --env-dir environments/NAME --ns NS --apps N
                                --daemon URL --target NAME --api URL --ca FILE --out FILE
                                [--per-push 5] [--pushes 60] [--warmup 3] [--first 1]
      For each push i: changes the image tag of per-push Deployments and the RELEASE value of
      their ConfigMaps (2 x per-push objects, a different set of apps each time), commits,
      runs `git push` and, from the moment it returns, polls the apiserver (admin token from
      $KUBE_ADMIN_TOKEN, one keep-alive TLS connection) until every changed object shows its
      new value. Then waits for the daemon to report Synced at the commit (so pushes never
      overlap) and appends a JSON line per push to --out:
        i, warmup, pushMs (git push wall time), appliedMs (push returned -> last object seen
        with its new value), firstMs (-> first object seen), syncedMs (-> daemon reports Synced),
        lastSyncMs (the daemon's own sync duration), polls (GET requests).
      The poller checks the objects in order and re-polls only the first one not yet updated,
      sleeping 3 ms between misses, so it costs the apiserver about one GET per 3-4 ms.

  reconcile-client.py drift-loop --api URL --ca FILE --ns NS --apps N --out FILE [--changes 100]
                                 [--warmup 3] [--timeout 30]
      Out-of-band changes, one at a time, each to a different app (so the daemon's loop damping,
      5 corrections of one object in 10 minutes, never applies): even changes scale a
      Deployment (merge patch of spec.replicas, field manager kubectl-scale), odd ones edit a
      ConfigMap (data.RELEASE, field manager kubectl-edit). Before each change the object's
      value is read; from the moment the PATCH is sent, the object is polled (GET every 3 ms
      over one keep-alive TLS connection) until it shows that value again. Appends a JSON line
      per change to --out: i, warmup, kind, patchMs (the PATCH itself), correctedMs (PATCH
      sent -> the value seen back), polls.
"""
import argparse
import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.parse


def daemon_status(url, target):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    try:
        c.request("GET", "/v1/targets")
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            return None
        for t in json.loads(body)["targets"]:
            if target is None or t["name"] == target:
                return t
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        c.close()
    return None


def wait_synced(url, target, rev, timeout, clock=time.monotonic, interval=0.005):
    """Returns (status, polls, True) once Synced at rev, or (last status, polls, False) on timeout."""
    deadline = clock() + timeout
    polls = 0
    t = None
    while clock() < deadline:
        t = daemon_status(url, target)
        polls += 1
        if t and t.get("state") == "Synced" and t.get("appliedRevision") == rev:
            return t, polls, True
        time.sleep(interval)
    return t, polls, False


class Api:
    """GETs against the apiserver over one keep-alive TLS connection (reconnects on error)."""

    def __init__(self, url, ca, token):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=ca)
        self.headers = {"Authorization": "Bearer " + token, "Accept": "application/json"}
        self.conn = None
        self.requests = 0

    def get(self, path):
        return self.request("GET", path)

    def request(self, method, path, body=None, content_type=None):
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=10)
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                body = r.read()
                self.requests += 1
                return r.status, body
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        return None, b""


def git(clone, *args, check=True):
    return subprocess.run(["git", "-C", clone, *args], check=check, capture_output=True, text=True)


def push_loop(a):
    token = os.environ.get("KUBE_ADMIN_TOKEN")
    if not token:
        sys.exit("push-loop: KUBE_ADMIN_TOKEN is not set")
    api = Api(a.api, a.ca, token)
    base = os.path.join(a.clone, a.env_dir, "apps")
    out = open(a.out, "a")
    total = a.warmup + a.pushes
    for n in range(total):
        i = a.first + n
        apps = sorted({(i * a.per_push + j) % a.apps + 1 for j in range(a.per_push)})
        tag = "2.0.%d" % i
        release = "r%d" % i
        checks = []
        for app in apps:
            name = "app-%04d" % app
            d = os.path.join(base, name, "deployment.yaml")
            with open(d) as f:
                text = f.read()
            text, k = re.subn(r"(image: registry\.example\.com/team-[0-9]+/%s:)\S+" % name, r"\g<1>" + tag, text)
            if k != 1:
                sys.exit("push-loop: no image line in " + d)
            with open(d, "w") as f:
                f.write(text)
            c = os.path.join(base, name, "configmap.yaml")
            with open(c) as f:
                text = f.read()
            text, k = re.subn(r'RELEASE: "r[0-9]+"', 'RELEASE: "%s"' % release, text)
            if k != 1:
                sys.exit("push-loop: no RELEASE in " + c)
            with open(c, "w") as f:
                f.write(text)
            checks.append(("/apis/apps/v1/namespaces/%s/deployments/%s" % (a.ns, name),
                           lambda o, name=name: o["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
                               "/%s:%s" % (name, tag))))
            checks.append(("/api/v1/namespaces/%s/configmaps/%s-config" % (a.ns, name),
                           lambda o: o.get("data", {}).get("RELEASE") == release))
        git(a.clone, "commit", "-q", "-a", "-m", "release %s: %d apps" % (tag, len(apps)))
        rev = git(a.clone, "rev-parse", "HEAD").stdout.strip()

        start = time.monotonic()
        p = subprocess.run(["git", "-C", a.clone, "push", "-q", "origin", "HEAD:main"], capture_output=True, text=True)
        t0 = time.monotonic()
        if p.returncode != 0:
            sys.exit("push-loop: git push failed (%d):\n%s" % (p.returncode, p.stderr))

        polls = 0
        first = None
        idx = 0
        deadline = t0 + a.timeout
        while idx < len(checks):
            path, ok = checks[idx]
            status, body = api.get(path)
            polls += 1
            good = False
            if status == 200:
                try:
                    good = ok(json.loads(body))
                except (ValueError, KeyError, IndexError, TypeError):
                    good = False
            if good:
                if first is None:
                    first = time.monotonic()
                idx += 1
                continue
            if time.monotonic() > deadline:
                sys.exit("push-loop: push %d not applied within %d s (object %s)" % (i, a.timeout, path))
            time.sleep(0.003)
        t1 = time.monotonic()

        st, dpolls, synced = wait_synced(a.daemon, a.target, rev, a.timeout)
        t2 = time.monotonic()
        if not synced:
            sys.exit("push-loop: the daemon did not report Synced at %s: %s" % (rev[:12], json.dumps(st)))
        rec = {
            "i": i,
            "warmup": n < a.warmup,
            "rev": rev,
            "objects": len(checks),
            "pushMs": round((t0 - start) * 1000, 1),
            "appliedMs": round((t1 - t0) * 1000, 1),
            "firstMs": round((first - t0) * 1000, 1),
            "syncedMs": round((t2 - t0) * 1000, 1),
            "lastSyncMs": st.get("lastSyncMs"),
            "polls": polls,
        }
        out.write(json.dumps(rec) + "\n")
        out.flush()
    out.close()


def drift_loop(a):
    token = os.environ.get("KUBE_ADMIN_TOKEN")
    if not token:
        sys.exit("drift-loop: KUBE_ADMIN_TOKEN is not set")
    api = Api(a.api, a.ca, token)
    out = open(a.out, "a")
    for n in range(a.warmup + a.changes):
        app = "app-%04d" % ((n + 1) * 397 % a.apps + 1)
        if n % 2 == 0:
            kind = "Deployment"
            path = "/apis/apps/v1/namespaces/%s/deployments/%s" % (a.ns, app)
            value = lambda o: o["spec"]["replicas"]
            patch = lambda v: {"spec": {"replicas": v + 3}}
            manager = "kubectl-scale"
        else:
            kind = "ConfigMap"
            path = "/api/v1/namespaces/%s/configmaps/%s-config" % (a.ns, app)
            value = lambda o: o["data"]["RELEASE"]
            patch = lambda v, n=n: {"data": {"RELEASE": "out-of-band-%d" % n}}
            manager = "kubectl-edit"
        status, body = api.get(path)
        if status != 200:
            sys.exit("drift-loop: GET %s: HTTP %s" % (path, status))
        want = value(json.loads(body))
        t0 = time.monotonic()
        status, body = api.request("PATCH", path + "?fieldManager=" + manager, json.dumps(patch(want)),
                                   "application/merge-patch+json")
        t1 = time.monotonic()
        if status != 200:
            sys.exit("drift-loop: PATCH %s: HTTP %s %s" % (path, status, body[:200]))
        polls = 0
        deadline = t0 + a.timeout
        while True:
            status, body = api.get(path)
            polls += 1
            try:
                if status == 200 and value(json.loads(body)) == want:
                    break
            except (ValueError, KeyError, TypeError):
                pass
            if time.monotonic() > deadline:
                sys.exit("drift-loop: %s %s not corrected within %g s" % (kind, app, a.timeout))
            time.sleep(0.003)
        t2 = time.monotonic()
        out.write(json.dumps({"i": n, "warmup": n < a.warmup, "kind": kind, "object": app,
                              "patchMs": round((t1 - t0) * 1000, 1), "correctedMs": round((t2 - t0) * 1000, 1),
                              "polls": polls}) + "\n")
        out.flush()
    out.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wait-synced")
    w.add_argument("--daemon", required=True)
    w.add_argument("--rev", required=True)
    w.add_argument("--target")
    w.add_argument("--since", type=float)
    w.add_argument("--timeout", type=float, default=300)
    w.add_argument("--interval", type=float, default=0.005, help="seconds between polls (default 0.005)")
    l = sub.add_parser("push-loop")
    for opt in ("--clone", "--env-dir", "--ns", "--daemon", "--target", "--api", "--ca", "--out"):
        l.add_argument(opt, required=True)
    l.add_argument("--apps", type=int, required=True)
    l.add_argument("--per-push", type=int, default=5)
    l.add_argument("--pushes", type=int, default=60)
    l.add_argument("--warmup", type=int, default=3)
    l.add_argument("--first", type=int, default=1)
    l.add_argument("--timeout", type=float, default=60)
    d = sub.add_parser("drift-loop")
    for opt in ("--api", "--ca", "--ns", "--out"):
        d.add_argument(opt, required=True)
    d.add_argument("--apps", type=int, required=True)
    d.add_argument("--changes", type=int, default=100)
    d.add_argument("--warmup", type=int, default=3)
    d.add_argument("--timeout", type=float, default=30)
    a = p.parse_args()
    if a.cmd == "wait-synced":
        since = a.since if a.since is not None else time.time()
        st, polls, synced = wait_synced(a.daemon, a.target, a.rev, a.timeout, clock=time.time, interval=a.interval)
        now = time.time()
        if not synced:
            print(json.dumps({"error": "not Synced at %s within %g s" % (a.rev[:12], a.timeout), "status": st}))
            sys.exit(1)
        print(json.dumps({"wallMs": round((now - since) * 1000, 1), "lastSyncMs": st.get("lastSyncMs"),
                          "objects": st.get("objects"), "polls": polls}))
    elif a.cmd == "drift-loop":
        drift_loop(a)
    else:
        push_loop(a)


if __name__ == "__main__":
    main()
