"""A zero-delay OpenAI-compatible upstream for the SDK test (test code only, never the product)."""
import base64
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
        messages = body.get("messages", [])
        last = messages[-1] if messages else {}
        images = [part["image_url"]["url"] for m in messages if isinstance(m.get("content"), list)
                  for part in m["content"] if part.get("type") == "image_url"]
        if images:
            # Vision: say what arrived, so the test sees the gateway passed the image on.
            head, data = images[0].split(",", 1)
            text = f"I see {head} with {len(base64.b64decode(data))} bytes"
            return self.answer(text, body.get("stream"))
        if body.get("tools") and last.get("role") == "tool":
            calls = [c for m in messages for c in (m.get("tool_calls") or [])]
            assert calls and calls[0]["id"] == last["tool_call_id"], messages
            return self.answer(f"the tool said: {last['content']}", body.get("stream"))
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            if body.get("stream"):
                pieces = [{"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}},
                          {"index": 0, "function": {"arguments": "{\"city\": "}},
                          {"index": 0, "function": {"arguments": "\"Queens\"}"}}]
                chunks = [{"choices": [{"index": 0, "delta": {"tool_calls": [p]}}]} for p in pieces]
                chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
                chunks.append({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
                data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                return self.reply("text/event-stream", data.encode())
            call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": "{\"city\": \"Queens\"}"}}
            out = {"choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                                "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}
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

    def answer(self, text, stream):
        if stream:
            chunks = [{"choices": [{"index": 0, "delta": {"content": text}}]},
                      {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                      {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5}}]
            data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            return self.reply("text/event-stream", data.encode())
        out = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 7, "completion_tokens": 5}}
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
