#!/usr/bin/env python3
"""A broken and hostile OCI registry for tests/e2e/images.sh, on plain http (loopback).

Usage: fake_registry.py PORT_FILE   (binds a free port on 127.0.0.1 and writes it to PORT_FILE)

/v2/garbage/tags/list  200 with an HTML page
/v2/huge/tags/list     10,000 tags 1.0.0 .. 1.0.9999 in one page
/v2/endless/tags/list  a page per request, each linking to the next, forever
/v2/slow/tags/list     answers after 30 s
/v2/hostile/tags/list  ../../etc, a name with a newline, 300 characters, 1.0.0 and 1.2.0
"""
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, ctype="application/json", headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/v2/":
            return self.answer(200, "{}")
        if url.path == "/v2/garbage/tags/list":
            return self.answer(200, "<html><body>502 Bad Gateway</body></html>", "text/html")
        if url.path == "/v2/huge/tags/list":
            tags = ["1.0.%d" % i for i in range(10000)]
            return self.answer(200, json.dumps({"name": "huge", "tags": tags}))
        if url.path == "/v2/endless/tags/list":
            n = int(query.get("last", ["0"])[0]) + 1
            link = '</v2/endless/tags/list?last=%d>; rel="next"' % n
            return self.answer(200, json.dumps({"name": "endless", "tags": ["%d.0.0" % n]}), headers=[("Link", link)])
        if url.path == "/v2/slow/tags/list":
            time.sleep(30)
            return self.answer(200, json.dumps({"name": "slow", "tags": ["9.9.9"]}))
        if url.path == "/v2/hostile/tags/list":
            tags = ["1.0.0", "../../etc", "2.0.0\nimage: evil", "9" * 300, "1.2.0"]
            return self.answer(200, json.dumps({"name": "hostile", "tags": tags}))
        return self.answer(404, '{"errors":[{"code":"NAME_UNKNOWN"}]}')

    do_HEAD = do_GET


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
