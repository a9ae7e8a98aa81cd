"""SMS: the versioned templates, the file/console/HTTP backends, delivery and retries."""

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from huifang.notify.backends import (
    ConsoleBackend,
    FileBackend,
    HttpBackend,
    NotifyError,
    NotifyTemporaryError,
    outbox_read,
)
from huifang.notify.models import Message
from huifang.notify.services import message_deliver, sms_queue
from huifang.notify.templates import SMS_TEMPLATES


class _Gateway(BaseHTTPRequestHandler):
    received: list = []
    answer_status = 200

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        type(self).received.append({"auth": self.headers.get("Authorization"), "body": body})
        self.send_response(type(self).answer_status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"id": "gw-77"}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    _Gateway.received = []
    _Gateway.answer_status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sms", _Gateway
    server.shutdown()
    server.server_close()


def test_templates_are_versioned_and_render():
    tpl = SMS_TEMPLATES["ecallback_code"]
    assert tpl.version >= 1
    text = tpl.render(insurer="汇安人寿", code="123456", minutes=5)
    assert "123456" in text and "5分钟" in text


def test_file_backend_writes_masked_number_and_full_text(tmp_path):
    path = tmp_path / "sms.jsonl"
    FileBackend(path).send("13812341234", "验证码 654321", ref="hf-msg-1", kind="ecallback_code")
    FileBackend(path).send("13900001111", "second", ref="hf-msg-2")
    messages = outbox_read(path)
    assert [m["ref"] for m in messages] == ["hf-msg-1", "hf-msg-2"]
    assert messages[0]["to"] == "138****1234"
    assert messages[0]["text"] == "验证码 654321"
    assert "13812341234" not in path.read_text()


def test_outbox_read_of_missing_file_is_empty(tmp_path):
    assert outbox_read(tmp_path / "none.jsonl") == []


def test_console_backend_masks_number():
    out = io.StringIO()
    ConsoleBackend(out).send("13812341234", "hello", ref="r1")
    assert "138****1234" in out.getvalue() and "13812341234" not in out.getvalue()


def test_http_backend_posts_json_with_token(gateway):
    url, handler = gateway
    ref = HttpBackend(url=url, token="tok-1", timeout=3).send("13812341234", "文本", ref="hf-msg-9", kind="k")
    assert ref == "gw-77"
    [call] = handler.received
    assert call["auth"] == "Bearer tok-1"
    assert call["body"] == {"to": "13812341234", "text": "文本", "ref": "hf-msg-9", "kind": "k"}


@pytest.mark.parametrize(
    ("status", "error"), [(503, NotifyTemporaryError), (429, NotifyTemporaryError), (400, NotifyError)]
)
def test_http_backend_errors(gateway, status, error):
    url, handler = gateway
    handler.answer_status = status
    with pytest.raises(error):
        HttpBackend(url=url, token="t").send("13812341234", "x")


def test_http_backend_unreachable_is_temporary():
    with pytest.raises(NotifyTemporaryError):
        HttpBackend(url="http://127.0.0.1:9/none", token="t", timeout=1).send("13812341234", "x")


def test_http_backend_needs_http_url():
    with pytest.raises(NotifyError):
        HttpBackend(url="file:///etc/passwd", token="t")


@pytest.mark.django_db
def test_message_is_encrypted_at_rest_and_delivered_once(tmp_path, settings, caplog):
    settings.HUIFANG_SMS_OUTBOX = tmp_path / "sms.jsonl"
    message = sms_queue(
        to="13812341234",
        template="ecallback_code",
        values={"insurer": "汇安人寿", "code": "112233", "minutes": 5},
        subject="test:1",
    )
    assert message.to_masked == "138****1234"
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute('SELECT text, "to" FROM notify_message WHERE id = %s', [message.pk])
        raw_text, raw_to = cur.fetchone()
    assert "112233" not in raw_text and "13812341234" not in raw_to
    with caplog.at_level("INFO"):
        sent = message_deliver(message.pk)
        message_deliver(message.pk)  # safe to run twice
    assert sent.status == Message.Status.SENT and sent.template_version == 1
    assert len(outbox_read(tmp_path / "sms.jsonl")) == 1
    assert "13812341234" not in caplog.text


class _Down:
    name = "down"

    def send(self, *args, **kwargs):
        raise NotifyTemporaryError("busy")


@pytest.mark.django_db
def test_temporary_failure_stays_pending_then_fails_after_max_tries():
    message = sms_queue(
        to="13812341234", template="ecallback_code", values={"insurer": "x", "code": "1", "minutes": 5}
    )
    for _ in range(5):
        with pytest.raises(NotifyTemporaryError):
            message_deliver(message.pk, backend=_Down())
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED and message.tries == 5
