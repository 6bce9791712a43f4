"""Drives `tollgate serve` with the official OpenAI Python SDK, unchanged. Exits non-zero on any
mismatch; prints one line per check."""
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

embedded = client.embeddings.create(model="sdk-embed", input=["a", "b"])
assert len(embedded.data) == 2 and embedded.data[1].embedding == [0.1, 0.2], embedded
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
