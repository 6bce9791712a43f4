"""Drives `tollgate serve` with the official OpenAI Python SDK, unchanged. Exits non-zero on any
mismatch; prints one line per check."""
import base64
import json
import sys

import openai

base_url, key, limited_key = sys.argv[1], sys.argv[2], sys.argv[3]
client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)

models = [m.id for m in client.models.list()]
assert models == ["sdk-chat", "sdk-embed"], models
print("models.list ok")

answer = client.chat.completions.create(model="sdk-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=20)
assert answer.choices[0].message.content == "Hello from upstream", answer
assert answer.usage.prompt_tokens == 5 and answer.usage.completion_tokens == 3, answer.usage
print("chat.completions.create ok")

pieces, usage = [], None
for chunk in client.chat.completions.create(model="sdk-chat", messages=[{"role": "user", "content": "hi"}],
                                            stream=True, stream_options={"include_usage": True}):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
    if chunk.usage:
        usage = chunk.usage
assert "".join(pieces) == "Hello from upstream", pieces
assert usage is not None and usage.total_tokens == 8, usage
print("chat.completions.create(stream=True) ok")

# A two-turn tool call as agent frameworks make it: the assistant's message goes back as the SDK
# returned it (content None, tool_calls), then the tool's answer as a role "tool" message.
tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
conversation = [{"role": "user", "content": "What is the weather like in Queens?"}]
first = client.chat.completions.create(model="sdk-chat", messages=conversation, tools=tools, tool_choice="auto")
assert first.choices[0].finish_reason == "tool_calls", first
call = first.choices[0].message.tool_calls[0]
assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Queens"}, call
assert first.choices[0].message.content is None, first
conversation.append(first.choices[0].message)
conversation.append({"role": "tool", "tool_call_id": call.id, "content": "70F and clear"})
second = client.chat.completions.create(model="sdk-chat", messages=conversation, tools=tools)
assert second.choices[0].message.content == "the tool said: 70F and clear", second
print("tool round trip ok")

name, arguments, finish = None, "", None
for chunk in client.chat.completions.create(model="sdk-chat", messages=conversation[:1], tools=tools, stream=True):
    if chunk.choices and chunk.choices[0].delta.tool_calls:
        piece = chunk.choices[0].delta.tool_calls[0]
        name = name or (piece.function.name if piece.function else None)
        arguments += (piece.function.arguments or "") if piece.function else ""
    if chunk.choices and chunk.choices[0].finish_reason:
        finish = chunk.choices[0].finish_reason
assert (name, json.loads(arguments), finish) == ("get_weather", {"city": "Queens"}, "tool_calls"), (name, arguments, finish)
print("streamed tool call ok")

picture = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(100)).decode()
seen = client.chat.completions.create(model="sdk-chat", messages=[{"role": "user", "content": [
    {"type": "text", "text": "What is in this image?"},
    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{picture}"}}]}])
assert seen.choices[0].message.content == "I see data:image/png;base64 with 108 bytes", seen
print("vision prompt ok")

embedded = client.embeddings.create(model="sdk-embed", input=["a", "b"])
# The SDK asks for base64 (f32s) by default and decodes it; asked for floats, they come exact.
assert len(embedded.data) == 2, embedded
assert all(abs(a - b) < 1e-7 for a, b in zip(embedded.data[1].embedding, [1.25, 0.5])), embedded
exact = client.embeddings.create(model="sdk-embed", input="a", encoding_format="float")
assert exact.data[0].embedding == [0.25, 0.5], exact
print("embeddings.create ok")

try:
    openai.OpenAI(base_url=base_url, api_key="tg_wrong", max_retries=0).models.list()
    raise AssertionError("a wrong key was accepted")
except openai.AuthenticationError as error:
    assert error.status_code == 401
print("AuthenticationError ok")

try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    raise AssertionError("an unknown model was accepted")
except openai.NotFoundError:
    pass
print("NotFoundError ok")

limited = openai.OpenAI(base_url=base_url, api_key=limited_key, max_retries=0)
limited.chat.completions.create(model="sdk-chat", messages=[{"role": "user", "content": "hi"}])
try:
    limited.chat.completions.create(model="sdk-chat", messages=[{"role": "user", "content": "hi"}])
    raise AssertionError("the rate limit did not apply")
except openai.RateLimitError as error:
    assert int(error.response.headers["retry-after"]) >= 1
print("RateLimitError ok")
