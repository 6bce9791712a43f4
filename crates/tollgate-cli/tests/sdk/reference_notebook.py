"""Replays the request cells of the reference sample's notebooks (01_bedrock_api.ipynb and, through
the same requests, 02_bedrock_api_langchain.ipynb) against `tollgate serve`, with `requests` as
the notebooks use it, and reads each answer as the notebook's next cell does. Prints one line per
cell; exits non-zero at the first answer a notebook could not read.

Usage: reference_notebook.py API_URL API_KEY TEAM_ID, where API_URL is the stack's invoke URL as
its output gives it (stage and trailing slash included)."""
import base64
import sys
import time

import requests

api_url, api_key, team_id = sys.argv[1], sys.argv[2], sys.argv[3]
headers = {"x-api-key": api_key, "team_id": team_id}
battery_png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(64)).decode("utf-8")


def ok(cell):
    print(f"cell {cell} ok", flush=True)


def invoke(model_id, body, extra=None, query=""):
    return requests.post(f"{api_url}/invoke_model?model_id={model_id}{query}", json=body,
                         headers={**headers, **(extra or {})})


def poll(model_id, body, extra):
    """The notebooks' streaming loop."""
    request_id = invoke(model_id, body, extra).json()[0]["request_id"]
    start_time = time.time()
    while (time.time() - start_time) < 30:
        response = invoke(model_id, {}, query=f"&requestId={request_id}")
        if "generated_text" in response.json()[0]:
            return response
        time.sleep(0.05)
    raise AssertionError(f"no answer for {request_id}")


def text_of(response, cell):
    assert response.status_code == 200, (cell, response.status_code, response.text)
    text = response.json()[0]["generated_text"]
    assert isinstance(text, str) and text, (cell, text)
    return text


response = requests.get(f"{api_url}/list_foundation_models", headers=headers)
assert "modelSummaries" in response.json()[0], response.text
ok(7)

messages = [{"role": "user", "content": [{"text": "What is Amazon Bedrock?"}]}]
cells = [
    (10, "amazon.titan-text-express-v1", {"inputs": "What is Amazon Bedrock?", "parameters": {"maxTokenCount": 4096, "temperature": 0.2}}, {}),
    (13, "amazon.titan-text-express-v1", {"inputs": messages, "parameters": {"maxTokens": 4096, "temperature": 0.2}}, {"messages_api": "true"}),
    (46, "anthropic.claude-3-sonnet-20240229-v1:0", {"inputs": messages, "parameters": {"maxTokens": 4096, "temperature": 0.2, "topP": 0.9, "stopSequences": ["\n\nHuman:"]}}, {"messages_api": "true"}),
    (49, "anthropic.claude-3-sonnet-20240229-v1:0", {"inputs": messages, "parameters": {"maxTokens": 4096, "temperature": 0.2, "topP": 0.9, "stopSequences": ["\n\nHuman:"], "system": "Always translate the answer in Italian"}}, {"messages_api": "true"}),
    (69, "anthropic.claude-v2:1", {"inputs": "What is Amazon Bedrock?", "parameters": {"max_tokens_to_sample": 4096, "temperature": 0.2}}, {}),
    (72, "anthropic.claude-v2:1", {"inputs": messages, "parameters": {"maxTokens": 4096, "temperature": 0.2, "topP": 0.9, "stopSequences": ["\n\nHuman:"]}}, {"messages_api": "true"}),
    (85, "mistral.mistral-large-2402-v1:0", {"inputs": "<s>[INST]What is Amazon Bedrock?[/INST]", "parameters": {"max_tokens": 4096, "temperature": 0.2}}, {}),
    (98, "ai21.j2-ultra", {"inputs": "\nWhat is Amazon Bedrock?\n", "parameters": {"maxTokens": 4096, "temperature": 0.2}}, {}),
    (101, "ai21.j2-ultra", {"inputs": messages, "parameters": {"maxTokens": 4096, "temperature": 0.2, "topP": 0.9}}, {"messages_api": "true"}),
    (104, "cohere.command-text-v14", {"inputs": "\nWhat is Amazon Bedrock?\n", "parameters": {"max_tokens": 4000, "temperature": 0.2}}, {}),
]
for cell, model_id, body, extra in cells:
    text_of(invoke(model_id, body, extra), cell)
    ok(cell)

for cell, model_id, body, extra in [
    (18, "amazon.titan-text-express-v1", {"inputs": "What is Amazon Bedrock?", "parameters": {"maxTokenCount": 4096, "temperature": 0.2}}, {"streaming": "true"}),
    (23, "amazon.titan-text-express-v1", {"inputs": messages, "parameters": {"maxTokens": 4096, "temperature": 0.2, "topP": 0.9}}, {"streaming": "true", "messages_api": "true"}),
    (54, "anthropic.claude-3-sonnet-20240229-v1:0", {"inputs": messages, "parameters": {"maxTokens": 4096, "temperature": 0.2, "topP": 0.9, "stopSequences": ["\n\nHuman:"]}}, {"streaming": "true", "messages_api": "true"}),
    (77, "anthropic.claude-v2:1", {"inputs": "What is Amazon Bedrock?", "parameters": {"max_tokens_to_sample": 4096, "temperature": 0.2}}, {"streaming": "true"}),
    (95, "mistral.mistral-large-2402-v1:0", {"inputs": messages, "parameters": {"maxTokens": 4096, "temperature": 0.2, "topP": 0.9}}, {"messages_api": "true", "streaming": "true"}),
]:
    text_of(poll(model_id, body, extra), cell)
    ok(cell)

vision = [{"role": "user", "content": [{"image": {"format": "webp", "source": {"bytes": battery_png}}}, {"text": "what is in the image?"}]}]
vision_body = {"inputs": vision, "parameters": {"maxTokens": 4096, "temperature": 0.2, "topP": 0.9, "stopSequences": ["\n\nHuman:"]}}
text_of(invoke("anthropic.claude-3-sonnet-20240229-v1:0", vision_body, {"messages_api": "true"}), 60)
ok(60)
text_of(poll("anthropic.claude-3-sonnet-20240229-v1:0", vision_body, {"streaming": "true", "messages_api": "true"}), 66)
ok(66)

for cell, model_id, body, kind in [
    (27, "amazon.titan-embed-text-v1", {"inputs": "What is Amazon Bedrock?"}, "embeddings"),
    (31, "amazon.titan-embed-text-v2:0", {"inputs": "What is Amazon Bedrock?", "parameters": {"dimensions": 1024, "normalize": True}}, "embeddings"),
    (37, "amazon.titan-embed-image-v1", {"inputs": battery_png}, "embeddings-image"),
    (108, "cohere.embed-multilingual-v3", {"inputs": "\nCosa è Amazon Bedrock?\n", "parameters": {"input_type": "search_document"}}, "embeddings"),
    (144, "my-embedder", {"inputs": {"text_inputs": "Hello"}, "parameters": {"mode": "embedding", "InferenceComponentName": "gte-small-ic"}}, "embeddings"),
]:
    response = invoke(model_id, body, {"type": kind})
    assert response.status_code == 200, (cell, response.text)
    embedding = response.json()[0]["embedding"]
    assert embedding and all(isinstance(x, float) for x in embedding), (cell, embedding)
    ok(cell)

response = invoke("amazon.titan-image-generator-v1", {"textToImageParams": {"text": "\nblue backpack on a table\n"}, "parameters": {
    "taskType": "TEXT_IMAGE", "imageGenerationConfig": {"cfgScale": 8, "seed": 0, "quality": "standard", "width": 512, "height": 512, "numberOfImages": 1}}},
    {"type": "image"})
base_64_img_str = response.json()[0]["images"][0]
assert base64.decodebytes(bytes(base_64_img_str, "utf-8")).startswith(b"\x89PNG"), response.text
ok(42)
response = invoke("stability.stable-diffusion-xl-v1", {"text_prompts": ([{"text": "\na beautiful mountain landscape\n", "weight": 1.0}]), "parameters": {
    "cfg_scale": 5, "seed": 452345, "steps": 60, "style_preset": "photographic", "clip_guidance_preset": "FAST_GREEN",
    "sampler": "K_DPMPP_2S_ANCESTRAL", "width": 768}}, {"type": "image"})
base_64_img_str = response.json()[0]["artifacts"][0].get("base64")
assert base64.decodebytes(bytes(base_64_img_str, "utf-8")).startswith(b"\x89PNG"), response.text
ok(113)

model_arn = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123xyz"
response = requests.post(f"{api_url}/invoke_model?model_id=amazon.titan-text-express-v1&model_arn={model_arn}",
                         json={"inputs": "What is Amazon Bedrock?", "parameters": {"maxTokenCount": 4096, "temperature": 0.2}},
                         headers=headers)
text_of(response, 119)
ok(119)

toolConfig = {"tools": [{"toolSpec": {"name": "get_weather", "description": "Get weather of a location.", "inputSchema": {"json": {
    "type": "object", "properties": {"city": {"type": "string", "description": "City of the location"},
                                     "state": {"type": "string", "description": "State of the location"}},
    "required": ["city", "state"]}}}}]}
prompt = [{"role": "user", "content": [{"text": "What is the weather like in Queens, NY?"}]}]
tool_kwargs = {"maxTokens": 4096, "temperature": 0.2, "topP": 0.9, "stopSequences": ["\n\nHuman:"]}
text = invoke("anthropic.claude-3-sonnet-20240229-v1:0", {"inputs": prompt, "parameters": tool_kwargs, "tool_config": toolConfig},
              {"messages_api": "true"}).json()[0]["generated_text"]
function_calling = next((c["toolUse"] for c in text if "toolUse" in c), None)
tool_args = function_calling["input"] or {}
tool_response = f"Weather in {tool_args.get('city')} is 70F and clear skies."
ok(136)
prompt.append({"role": "assistant", "content": text})
prompt.append({"role": "user", "content": [{"toolResult": {"toolUseId": function_calling["toolUseId"],
                                                           "content": [{"text": tool_response}], "status": "success"}}]})
text = text_of(invoke("anthropic.claude-3-sonnet-20240229-v1:0", {"inputs": prompt, "parameters": tool_kwargs, "tool_config": toolConfig},
                      {"messages_api": "true"}), 139)
assert "70F" in text, text
ok(139)

response = invoke("my-chat", {"inputs": [{"role": "user", "content": "Hello"}], "parameters": {
    "model": "placeholder-model", "top_p": 0.9, "temperature": 0.2, "return_full_text": True, "stop": []}}, {"messages_api": "true"})
text = response.json()[0]
assert text.get("generated_text"), response.text
ok(148)

# Errors read as the notebooks read answers.
response = requests.post(f"{api_url}/invoke_model?model_id=meta.llama2-13b-chat-v1", json={"inputs": "hi"}, headers=headers)
assert response.status_code == 404 and "meta.llama2-13b-chat-v1" in response.json()[0]["generated_text"], response.text
response = requests.post(f"{api_url}/invoke_model?model_id=amazon.titan-text-express-v1", json={"inputs": "hi"},
                         headers={"x-api-key": "wrong", "team_id": team_id})
assert response.status_code == 403 and response.json()["message"] == "Forbidden", response.text
print("errors ok", flush=True)
