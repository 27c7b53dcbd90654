"""A loopback server that also speaks the two batch protocols, for the real SDKs:

* Anthropic Message Batches: ``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}``,
  ``GET .../{id}/results`` (JSONL), ``POST .../{id}/cancel``;
* OpenAI Files + Batches: ``POST /v1/files`` (multipart), ``POST /v1/batches``,
  ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``, ``GET /v1/files/{id}/content``.

A batch ends after ``polls_to_finish`` status calls. Results come back in reverse order. A
question containing ``[errored]`` errors, one containing ``[expired]`` expires. Usage comes from
the same cache simulators as the streaming endpoints, so a prewarm request sent through
``/v1/messages`` (or ``/v1/chat/completions``) is read back by the batch's requests.
Everything else (chat streams, scripted faults) is :class:`tests.loopback.LoopbackServer`'s.
``retrieve_faults`` injects faults into the next status calls: ``None`` drops the connection,
a number answers with that HTTP status.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from tests.loopback import LoopbackServer, RecordedRequest
from tests.loopback_wire import content_text, openai_prompt, tokens_for

_ANTHROPIC = re.compile(r"^/v1/messages/batches(?:/(?P<id>[^/]+)(?:/(?P<op>results|cancel))?)?$")
_OPENAI_BATCH = re.compile(r"^/v1/batches(?:/(?P<id>[^/]+)(?:/(?P<op>cancel))?)?$")
_OPENAI_FILE = re.compile(r"^/v1/files(?:/(?P<id>[^/]+)/content)?$")

Reply = tuple[int, str, bytes] | None  # (status, content type, body); None: drop the connection


@dataclass
class FakeBatch:
    id: str
    kind: str  # "anthropic" | "openai"
    lines: list[dict[str, Any]]
    created: float = field(default_factory=time.time)
    polls: int = 0
    cancel_requested: bool = False
    ended: bool = False
    outcomes: list[dict[str, Any]] = field(default_factory=list)  # in request order
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    failure: str | None = None


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _question(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    return content_text(users[-1].get("content")) if users else ""


class BatchLoopbackServer(LoopbackServer):
    def __init__(self, *, polls_to_finish: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.polls_to_finish = polls_to_finish
        self.batches: dict[str, FakeBatch] = {}
        self.files: dict[str, bytes] = {}
        self.retrieve_faults: deque[int | None] = deque()
        self.results_calls = 0
        self.reject_next_batch: str | None = None  # OpenAI: fail the next batch, for this reason
        # Anthropic: send only this many result lines, then drop the connection (once).
        self.cut_results_after: int | None = None
        self._seq = 0

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:04d}"

    def finish_all(self) -> None:
        """End every batch at its next status call."""
        self.polls_to_finish = 1

    # -- dispatch

    async def _respond(
        self, request: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        handled, reply = self._batch_reply(request)
        if not handled:
            return await super()._respond(request, reader, writer)
        if reply is None:
            return False  # drop the connection
        code, ctype, data = reply
        cut = self.cut_results_after
        if cut is not None and request.path.endswith("/results"):
            self.cut_results_after = None
            part = b"".join(data.splitlines(keepends=True)[:cut])
            writer.write(self._head(code, {"content-type": ctype}, len(data)) + part)
            await writer.drain()
            return False  # the body ends early: the client sees a broken stream
        writer.write(self._head(code, {"content-type": ctype}, len(data)) + data)
        await writer.drain()
        return True

    def _batch_reply(self, request: RecordedRequest) -> tuple[bool, Reply]:
        path, method = request.path, request.method
        if m := _ANTHROPIC.match(path):
            return True, self._anthropic(method, m["id"], m["op"], request)
        if m := _OPENAI_BATCH.match(path):
            return True, self._openai_batch(method, m["id"], m["op"], request)
        if m := _OPENAI_FILE.match(path):
            return True, self._openai_file(method, m["id"], request)
        return False, None

    def _json(self, code: int, obj: Any) -> Reply:
        return code, "application/json", json.dumps(obj).encode()

    def _fault(self, request: RecordedRequest) -> tuple[bool, Reply]:
        if not self.retrieve_faults:
            return False, None
        code = self.retrieve_faults.popleft()
        if code is None:
            return True, None
        return True, self._json(code, self._error_body(request, code))

    def _poll(self, batch: FakeBatch) -> None:
        if batch.ended:
            return
        batch.polls += 1
        if batch.cancel_requested or batch.polls >= self.polls_to_finish:
            self._process(batch)

    def _processed(self, batch: FakeBatch) -> int:
        """How many requests had run when the batch was canceled: the share of polls done."""
        if not batch.cancel_requested:
            return len(batch.lines)
        return len(batch.lines) * min(batch.polls - 1, self.polls_to_finish) // self.polls_to_finish

    # -- Anthropic

    def _anthropic(
        self, method: str, bid: str | None, op: str | None, req: RecordedRequest
    ) -> Reply:
        if bid is None and method == "POST":
            lines = list((req.body or {}).get("requests") or [])
            bad = [r for r in lines if "stream" in r.get("params", {})]
            if bad:
                return self._json(
                    400, self._error_body(req, 400, "stream is not allowed in a batch")
                )
            batch = FakeBatch(self._next_id("msgbatch_loop"), "anthropic", lines)
            self.batches[batch.id] = batch
            return self._json(200, self._anthropic_batch(batch))
        batch = self.batches.get(bid or "")
        if batch is None or batch.kind != "anthropic":
            return self._json(404, self._error_body(req, 404, f"no batch {bid}"))
        if op == "cancel":
            if not batch.ended:
                batch.cancel_requested = True
            return self._json(200, self._anthropic_batch(batch))
        if op == "results":
            self.results_calls += 1
            if not batch.ended:
                return self._json(400, self._error_body(req, 400, "batch has not ended"))
            body = "".join(json.dumps(o) + "\n" for o in reversed(batch.outcomes))
            return 200, "application/binary", body.encode()
        faulted, reply = self._fault(req)
        if faulted:
            return reply
        self._poll(batch)
        return self._json(200, self._anthropic_batch(batch))

    def _anthropic_batch(self, batch: FakeBatch) -> dict[str, Any]:
        counts = dict.fromkeys(("succeeded", "errored", "canceled", "expired"), 0)
        for o in batch.outcomes:
            counts[o["result"]["type"]] += 1
        counts["processing"] = 0 if batch.ended else len(batch.lines)
        if batch.ended:
            status = "ended"
        else:
            status = "canceling" if batch.cancel_requested else "in_progress"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": _iso(batch.created),
            "expires_at": _iso(batch.created + 86400),
            "ended_at": _iso(time.time()) if batch.ended else None,
            "cancel_initiated_at": _iso(time.time()) if batch.cancel_requested else None,
            "archived_at": None,
            "results_url": f"{self.base_url}/v1/messages/batches/{batch.id}/results"
            if batch.ended
            else None,
        }

    def _process(self, batch: FakeBatch) -> None:
        done = self._processed(batch)
        for i, line in enumerate(batch.lines):
            if batch.kind == "anthropic":
                batch.outcomes.append(self._anthropic_outcome(line, ran=i < done))
            else:
                batch.outcomes.append(self._openai_outcome(line, ran=i < done))
        batch.ended = True
        if batch.kind == "openai":
            out = [
                o for o in batch.outcomes if o["response"] and o["response"]["status_code"] == 200
            ]
            errs = [o for o in batch.outcomes if o not in out]
            if out:
                batch.output_file_id = self._store_file(out)
            if errs:
                batch.error_file_id = self._store_file(errs)

    def _anthropic_outcome(self, line: dict[str, Any], *, ran: bool) -> dict[str, Any]:
        params = line["params"]
        question = _question(params.get("messages") or [])
        cid = line["custom_id"]
        if not ran:
            return {"custom_id": cid, "result": {"type": "canceled"}}
        if "[expired]" in question:
            return {"custom_id": cid, "result": {"type": "expired"}}
        if "[errored]" in question:
            error = {"type": "invalid_request_error", "message": "loopback: this question errs"}
            return {
                "custom_id": cid,
                "result": {"type": "errored", "error": {"type": "error", "error": error}},
            }
        answer = f"Answer to: {question.strip()}"
        usage = self.anthropic_cache.usage(
            params, min_tokens=self.min_cache_tokens, now=self.clock()
        )
        usage["output_tokens"] = tokens_for(len(answer))
        message = {
            "id": f"msg_{cid}",
            "type": "message",
            "role": "assistant",
            "model": params.get("model"),
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        return {"custom_id": cid, "result": {"type": "succeeded", "message": message}}

    # -- OpenAI

    def _store_file(self, lines: list[dict[str, Any]]) -> str:
        fid = self._next_id("file-loop")
        self.files[fid] = "".join(json.dumps(x) + "\n" for x in reversed(lines)).encode()
        return fid

    def _openai_file(self, method: str, fid: str | None, req: RecordedRequest) -> Reply:
        if fid is None and method == "POST":
            ctype = req.headers.get("content-type", "")
            message = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + req.raw
            )
            data, purpose, name = b"", "", "upload"
            for part in message.iter_parts():
                field_name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                if field_name == "file" and isinstance(payload, bytes):
                    data, name = payload, str(part.get_filename() or name)
                elif field_name == "purpose" and isinstance(payload, bytes):
                    purpose = payload.decode()
            new_id = self._next_id("file-loop")
            self.files[new_id] = data
            obj = {"id": new_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                   "filename": name, "purpose": purpose, "status": "processed"}  # fmt: skip
            return self._json(200, obj)
        if fid is not None and fid in self.files:
            self.results_calls += 1
            return 200, "application/octet-stream", self.files[fid]
        return self._json(404, self._error_body(req, 404, f"no file {fid}"))

    def _openai_batch(
        self, method: str, bid: str | None, op: str | None, req: RecordedRequest
    ) -> Reply:
        if bid is None and method == "POST":
            body = req.body or {}
            data = self.files.get(str(body.get("input_file_id")))
            if data is None:
                return self._json(400, self._error_body(req, 400, "no such input file"))
            lines = [json.loads(x) for x in data.splitlines() if x.strip()]
            batch = FakeBatch(self._next_id("batch_loop"), "openai", lines)
            batch.input_file_id = str(body.get("input_file_id"))
            wrong = [
                x for x in lines if x.get("url") != body.get("endpoint") or "stream" in x["body"]
            ]
            if body.get("completion_window") != "24h" or wrong:
                batch.ended, batch.failure = True, "lines must POST to the endpoint, without stream"
            elif self.reject_next_batch:
                batch.ended, batch.failure = True, self.reject_next_batch
                self.reject_next_batch = None
            self.batches[batch.id] = batch
            return self._json(200, self._openai_batch_obj(batch))
        batch = self.batches.get(bid or "")
        if batch is None or batch.kind != "openai":
            return self._json(404, self._error_body(req, 404, f"no batch {bid}"))
        if op == "cancel":
            if not batch.ended:
                batch.cancel_requested = True
            return self._json(200, self._openai_batch_obj(batch, cancelling=not batch.ended))
        faulted, reply = self._fault(req)
        if faulted:
            return reply
        self._poll(batch)
        return self._json(200, self._openai_batch_obj(batch))

    def _openai_batch_obj(self, batch: FakeBatch, *, cancelling: bool = False) -> dict[str, Any]:
        n = len(batch.lines)
        ok = sum(1 for o in batch.outcomes if o["response"] and o["response"]["status_code"] == 200)
        if batch.failure:
            status = "failed"
        elif batch.ended:
            status = "cancelled" if batch.cancel_requested else "completed"
        elif cancelling or batch.cancel_requested:
            status = "cancelling"
        else:
            status = "validating" if batch.polls <= 1 else "in_progress"
        running = min(n, n * batch.polls // max(1, self.polls_to_finish))
        completed, failed = (ok, len(batch.outcomes) - ok) if batch.ended else (running, 0)
        errors = {"object": "list", "data": [{"code": "invalid", "message": batch.failure}]}
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": status,
            "created_at": int(batch.created),
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "errors": errors if batch.failure else None,
            # Like OpenAI: no counts until the input file has been validated.
            "request_counts": {
                "total": 0 if status == "validating" else n,
                "completed": completed,
                "failed": failed,
            },
        }

    def _openai_outcome(self, line: dict[str, Any], *, ran: bool) -> dict[str, Any]:
        body = line["body"]
        question = _question(body.get("messages") or [])
        base = {"id": f"batch_req_{line['custom_id']}", "custom_id": line["custom_id"]}
        if not ran:
            error = {"code": "batch_cancelled", "message": "The batch was cancelled."}
            return {**base, "response": None, "error": error}
        if "[expired]" in question:
            error = {"code": "batch_expired", "message": "This request could not be executed."}
            return {**base, "response": None, "error": error}
        if "[errored]" in question:
            err_body = {"error": {"message": "loopback: this question errs",
                                  "type": "invalid_request_error", "code": None}}  # fmt: skip
            response = {"status_code": 400, "request_id": "req_x", "body": err_body}
            return {**base, "response": response, "error": None}
        model = str(body.get("model"))
        prompt = openai_prompt(body)
        cached = self.openai_cache.cached(model, prompt, min_tokens=self.min_cache_tokens)
        answer = f"Answer to: {question.strip()}"
        prompt_tokens = tokens_for(len(prompt))
        completion = tokens_for(len(answer))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                 "total_tokens": prompt_tokens + completion,
                 "prompt_tokens_details": {"cached_tokens": cached}}  # fmt: skip
        choice = {"index": 0, "message": {"role": "assistant", "content": answer},
                  "finish_reason": "stop"}  # fmt: skip
        completion_body = {"id": f"chatcmpl-{line['custom_id']}", "object": "chat.completion",
                           "created": 0, "model": model, "choices": [choice], "usage": usage}  # fmt: skip
        response = {"status_code": 200, "request_id": "req_x", "body": completion_body}
        return {**base, "response": response, "error": None}
