#!/usr/bin/env python3
"""The wire check: the release binary's requests in every mode, validated against the
official SDKs' own types (google-genai, openai from PyPI), answered with responses
built from the SDKs' response types. Prints a table; exits 1 if any request is not
what the SDK would accept. Needs the local MariaDB (root, no password).
"""
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydantic
from google.genai import types as gtypes
from openai.types.chat import ChatCompletion
from openai.types.chat import completion_create_params as oparams

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "ai-worker")
DB = "aiw_wire_check"
CAPTURED = []  # (path, body)
LOCK = threading.Lock()

SCHEMA = '{"type":"object","properties":{"label":{"type":"string"}},"required":["label"]}'


def texts_of(user):
    packed = re.findall(r'<text id="([^"]+)">\n(.*?)\n</text>', user, re.S)
    if packed:
        return packed
    single = re.search(r"<text>\n(.*)\n</text>", user, re.S)
    return [(None, single.group(1) if single else "")]


def answer_for(wanted, user):
    """The answer object the request asks for (`wanted` is its schema or prompt)."""
    def entry(text):
        if '"label"' in wanted:
            return {"result": {"label": "x"}} if '"items"' in wanted else {"label": "x"}
        if '"answer"' in wanted:
            return {"answer": "ok"}
        fields = {"text_corrected": text}
        if "change_summary" in wanted:
            fields["change_summary"] = "ok"
        return fields
    texts = texts_of(user)
    if texts[0][0] is not None:
        return {"items": [dict(entry(t), id=k) for k, t in texts]}
    return entry(texts[0][1])


def gemini_reply(body):
    user = body["contents"][0]["parts"][0]["text"]
    wanted = json.dumps(body.get("generationConfig", {}).get("responseSchema", {}))
    wanted += json.dumps(body.get("systemInstruction", {}))
    answer = json.dumps(answer_for(wanted, user))
    reply = gtypes.GenerateContentResponse(
        candidates=[gtypes.Candidate(
            content=gtypes.Content(role="model", parts=[gtypes.Part(text=answer)]),
            finish_reason=gtypes.FinishReason.STOP, index=0)],
        usage_metadata=gtypes.GenerateContentResponseUsageMetadata(
            prompt_token_count=10, candidates_token_count=5, total_token_count=15),
    )
    return reply.model_dump(mode="json", by_alias=True, exclude_none=True)


def openai_reply(body):
    user = body["messages"][-1]["content"]
    wanted = json.dumps(body.get("response_format", {})) + body["messages"][0]["content"]
    answer = json.dumps(answer_for(wanted, user))
    reply = ChatCompletion.model_validate({
        "id": "chatcmpl-wire", "object": "chat.completion", "created": 0, "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": answer}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    })
    return reply.model_dump(mode="json", exclude_none=True)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with LOCK:
            CAPTURED.append((self.path, body))
        reply = gemini_reply(body) if ":generateContent" in self.path else openai_reply(body)
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


GEMINI_TOP = {"systemInstruction", "contents", "generationConfig"}
OPENAI_KEYS = set(oparams.CompletionCreateParamsBase.__annotations__)
OPENAI_FORMATS = {"json_object": {"type"}, "json_schema": {"type", "json_schema"}}
OPENAI_SCHEMA_KEYS = {"name", "schema", "strict", "description"}
OPENAI_TYPE = pydantic.TypeAdapter(oparams.CompletionCreateParamsNonStreaming)


def check_gemini(body):
    problems = [f"unknown field {k}" for k in body if k not in GEMINI_TOP]
    try:
        gtypes.Content.model_validate(body["systemInstruction"])
        for content in body["contents"]:
            gtypes.Content.model_validate(content)
        config = gtypes.GenerateContentConfig.model_validate(body["generationConfig"])
        if config.response_schema is not None:
            gtypes.Schema.model_validate(body["generationConfig"]["responseSchema"])
    except pydantic.ValidationError as e:
        problems.append(str(e).splitlines()[0])
    return problems


def check_openai(body, local):
    problems = [f"unknown field {k}" for k in body if k not in OPENAI_KEYS]
    try:
        OPENAI_TYPE.validate_python(body)
    except pydantic.ValidationError as e:
        problems.append(str(e).splitlines()[0])
    fmt = body.get("response_format")
    if fmt:
        allowed = set(OPENAI_FORMATS.get(fmt.get("type"), {"type"}))
        if local and fmt.get("type") == "json_object":
            allowed.add("schema")  # llama.cpp's own extension, sent to local servers only
        problems += [f"response_format.{k} is not in the SDK's type" for k in fmt if k not in allowed]
        schema = fmt.get("json_schema", {})
        problems += [f"json_schema.{k} is not in the SDK's type" for k in schema if k not in OPENAI_SCHEMA_KEYS]
    for message in body.get("messages", []):
        problems += [f"message field {k}" for k in message if k not in {"role", "content", "name"}]
    reasoning = body["model"].startswith(("gpt-5", "o1", "o3", "o4"))
    if reasoning and "max_tokens" in body:
        problems.append("max_tokens sent to a reasoning model (the SDK: not compatible)")
    if reasoning and "temperature" in body:
        problems.append("temperature sent to a reasoning model")
    return problems


def sql(statement):
    subprocess.run(["mysql", "-h127.0.0.1", "-uroot", DB, "-e", statement], check=True)


# (mode, provider, model, local_server, model settings, task settings, texts)
MODES = [
    ("gemini proofread", "gemini", "gemini-2.5-flash", 0, "", "pack_max_items = 1", 2),
    ("gemini packed", "gemini", "gemini-2.5-flash", 0, "", "pack_max_items = 20", 3),
    ("gemini diff summary", "gemini", "gemini-2.5-flash", 0, "", "pack_max_items = 1, change_summary = 'diff'", 1),
    ("gemini thinking, caps", "gemini", "gemini-2.5-pro", 0,
     "temperature = 0.3, max_output_tokens = 4000, thinking_budget = 1024", "pack_max_items = 1", 1),
    ("gemini analysis schema", "gemini", "gemini-2.5-flash", 0, "",
     f"pack_max_items = 1, kind = 'analyze', output_schema = '{SCHEMA}'", 1),
    ("gemini analysis packed", "gemini", "gemini-2.5-flash", 0, "",
     f"pack_max_items = 20, kind = 'analyze', output_schema = '{SCHEMA}'", 3),
    ("openai gpt-5 reasoning", "openai", "gpt-5-mini", 0,
     "reasoning_effort = 'high', service_tier = 'flex', max_output_tokens = 4000", "pack_max_items = 1", 2),
    ("openai gpt-5 packed", "openai", "gpt-5-mini", 0, "", "pack_max_items = 20", 3),
    ("openai gpt-4.1 json_object", "openai", "gpt-4.1-mini", 0, "structured_output = 2, temperature = 0.5",
     "pack_max_items = 1", 1),
    ("openai gpt-4.1 plain", "openai", "gpt-4.1-mini", 0, "structured_output = 0", "pack_max_items = 1", 1),
    ("openai analysis schema", "openai", "gpt-5-mini", 0, "",
     f"pack_max_items = 1, kind = 'analyze', output_schema = '{SCHEMA}'", 1),
    ("local server json_object", "openai", "local", 1, "structured_output = 2", "pack_max_items = 1", 1),
]


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    subprocess.run(["mysql", "-h127.0.0.1", "-uroot", "-e", f"DROP DATABASE IF EXISTS {DB}"], check=True)
    env = dict(os.environ, DB_NAME=DB, GEMINI_API_KEY="wire", OPENAI_API_KEY="wire",
               AI_ENV_KEY_HOSTS="127.0.0.1", RUST_LOG="warn")
    subprocess.run([BIN, "--env-file", "/dev/null", "init-db", "-q"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    for n, (mode, provider, model, local, model_sets, task_sets, count) in enumerate(MODES, 1):
        url = f"http://127.0.0.1:{port}/" + ("v1beta" if provider == "gemini" else "v1")
        sql(f"INSERT INTO ai_model (id_ai_model, name, provider, model_name, api_url, local_server) "
            f"VALUES ({n}, 'm{n}', '{provider}', '{model}', '{url}', {local})")
        if model_sets:
            sql(f"UPDATE ai_model SET {model_sets} WHERE id_ai_model = {n}")
        sql(f"INSERT INTO task (id_task, id_ai_model, name, description) "
            f"VALUES ({n}, {n}, '{mode}', 'Popraw błędy w tekście.')")
        sql(f"UPDATE task SET {task_sets} WHERE id_task = {n}")
        for i in range(count):
            sql(f"INSERT INTO task_item (id_task, text_original) VALUES ({n}, 'Tekst {n}.{i} z bledem.')")
    for n in range(1, len(MODES) + 1):
        CAPTURED.clear()
        run = subprocess.run([BIN, "--env-file", "/dev/null", "--task", str(n), "--json", "-q"],
                             env=env, capture_output=True, text=True)
        mode, provider, _, local, *_ = MODES[n - 1]
        summary = json.loads(run.stdout or "{}")
        problems = []
        if run.returncode != 0:
            problems.append(f"run exit {run.returncode}: {summary.get('message')}")
        for path, body in list(CAPTURED):
            found = check_gemini(body) if provider == "gemini" else check_openai(body, local == 1)
            problems += [f"{path}: {p}" for p in found]
        status = "valid" if not problems else "; ".join(problems[:3])
        print(f"| {mode} | {len(CAPTURED)} | {summary.get('items_ok', 0)} | {status} |")
        MODES[n - 1] = MODES[n - 1] + (bool(problems),)
    subprocess.run(["mysql", "-h127.0.0.1", "-uroot", "-e", f"DROP DATABASE IF EXISTS {DB}"], check=True)
    server.shutdown()
    return 1 if any(m[-1] for m in MODES) else 0


if __name__ == "__main__":
    print("| mode | requests | items saved | against the SDK's types |\n|---|---|---|---|")
    sys.exit(main())
