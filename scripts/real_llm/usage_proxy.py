"""A counting proxy between ai-worker and a model server (scripts/real-llm-check):
forwards every request, and appends one JSON line per answer to a file: the task it
served (by prompt_cache_key), the JSON mode asked for, the status, and the usage the
server reported, so the report can compare what the server billed with what
ai-worker recorded."""
import http.server
import json
import sys
import urllib.error
import urllib.request

port, target, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = urllib.request.Request(
            f"http://127.0.0.1:{target}{self.path}", data=body, method="POST",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as reply:
                status, data = reply.status, reply.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        try:
            sent = json.loads(body)
        except ValueError:
            sent = {}
        try:
            usage = json.loads(data).get("usage") or {}
        except ValueError:
            usage = {}
        with open(out, "a") as f:
            f.write(json.dumps({
                "task": sent.get("prompt_cache_key"),
                "format": (sent.get("response_format") or {}).get("type", "plain"),
                "status": status,
                "prompt_tokens": usage.get("prompt_tokens", 0),
                "completion_tokens": usage.get("completion_tokens", 0),
            }) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
