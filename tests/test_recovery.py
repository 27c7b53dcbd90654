"""kill -9 in the middle of an answer: the next start has the question and the partial answer
up to the last checkpoint, marked interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from chat_tui.core.storage import Store
from tests.loopback import SSE, LoopbackServer
from tests.loopback_wire import anthropic_sse


def test_kill_mid_stream_then_recover(loopback: LoopbackServer, tmp_path: Path) -> None:
    tokens = [f"tok{i} " for i in range(400)]
    loopback.enqueue(SSE(anthropic_sse(tokens), chunk_delay=0.01))  # ~4 s of answer
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": loopback.base_url,
        "CHAT_TUI_DATA_DIR": str(tmp_path / "data"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "chat_tui", "ask", "tell me a long story"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        seen = b""
        deadline = time.monotonic() + 30
        # Wait until well past the first one-second checkpoint.
        while seen.count(b"tok") < 250 and time.monotonic() < deadline:
            seen += os.read(proc.stdout.fileno(), 4096)
        assert seen.count(b"tok") >= 250, seen[-200:]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL

    with Store.open(tmp_path / "data" / "chat-tui.db") as store:
        assert store.recovered == 1
        conv = store.load_conversation(store.last_conversation_id() or 0)
    question, answer = conv.messages
    assert question.text == "tell me a long story"
    assert answer.status == "interrupted"
    assert answer.text.startswith("tok0 tok1 ")
    checkpointed = answer.text.count("tok")
    assert 0 < checkpointed <= seen.count(b"tok")
