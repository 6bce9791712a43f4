"""A zero-delay OpenAI-compatible upstream for the SDK test (test code only, never the product)."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if self.path.endswith("/embeddings"):
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            out = {"data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2]} for i in range(len(inputs))],
                   "usage": {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)}}
            return self.reply("application/json", json.dumps(out).encode())
        if body.get("stream"):
            chunks = [{"choices": [{"index": 0, "delta": {"content": w}}]} for w in ["Hello", " from", " upstream"]]
            chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            chunks.append({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}})
            data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            return self.reply("text/event-stream", data.encode())
        out = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from upstream"}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 5, "completion_tokens": 3}}
        return self.reply("application/json", json.dumps(out).encode())

    def reply(self, content_type, payload):
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
sys.stdout.close()
server.serve_forever()
