"""Connectors: what each endpoint failure turns into (retry, pause, or one failed item)."""

import socket

import pytest

from evaluations.datasets import connectors as conn
from tests.evaluations.datasets_support import ScriptedAgent
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def fake_openai():
    with FakeOpenAI.start() as server:
        yield server


@pytest.fixture
def scripted():
    agent = ScriptedAgent()
    yield agent
    agent.stop()


def openai_connector(server: FakeOpenAI, **kwargs) -> conn.Connector:
    config = conn.connector_config_clean(
        config={"kind": "openai", "base_url": server.base_url, "model": "fake-judge", **kwargs}
    )
    return conn.connector_build(config=config, agent_slug="a", version_name="v2")


def http_connector(agent: ScriptedAgent, **kwargs) -> conn.Connector:
    config = conn.connector_config_clean(
        config={
            "kind": "http",
            "url": agent.url,
            "request_template": '{"question": "{{input}}", "version": "{{version}}"}',
            "answer_path": "data.answer",
            **kwargs,
        }
    )
    return conn.connector_build(config=config, agent_slug="a", version_name="v2")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_openai_connector_sends_the_system_prompt_and_returns_the_reply(fake_openai):
    answer = openai_connector(fake_openai, system_prompt="Be brief.").answer(input="Hello?")
    sent = fake_openai.requests()[-1]["messages"]
    assert (sent, answer.output) == (
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello?"}],
        '{"result": "ok"}',
    )


def test_openai_500_is_transient(fake_openai):
    fake_openai.configure(status=500)
    with pytest.raises(conn.TransientConnectorError, match="HTTP 500"):
        openai_connector(fake_openai).answer(input="hi")


def test_openai_429_carries_retry_after(fake_openai):
    fake_openai.configure(status=429, retry_after=7)
    with pytest.raises(conn.TransientConnectorError) as caught:
        openai_connector(fake_openai).answer(input="hi")
    assert caught.value.retry_after == 7


def test_openai_timeout_is_transient(fake_openai):
    fake_openai.configure(latency=3)
    with pytest.raises(conn.TransientConnectorError, match="timed out"):
        openai_connector(fake_openai, timeout=1).answer(input="hi")


def test_openai_bad_key_is_permanent(fake_openai):
    fake_openai.configure(api_key="right")
    with pytest.raises(conn.PermanentConnectorError, match="HTTP 401"):
        openai_connector(fake_openai).answer(input="hi")


def test_openai_unknown_model_is_permanent(fake_openai):
    with pytest.raises(conn.PermanentConnectorError, match="HTTP 404"):
        openai_connector(fake_openai, model="no-such-model").answer(input="hi")


def test_unreachable_endpoint_is_transient():
    config = conn.connector_config_clean(
        config={"kind": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1", "model": "m"}
    )
    connector = conn.connector_build(config=config, agent_slug="a", version_name="v1")
    with pytest.raises(conn.TransientConnectorError, match="cannot reach"):
        connector.answer(input="hi")


def test_openai_connector_pointed_at_an_html_page_is_permanent(scripted):
    scripted.mode = "html"
    config = conn.connector_config_clean(
        config={"kind": "openai", "base_url": scripted.url, "model": "m"}
    )
    connector = conn.connector_build(config=config, agent_slug="a", version_name="v1")
    with pytest.raises(conn.PermanentConnectorError, match="not a chat completion"):
        connector.answer(input="hi")


def test_http_connector_fills_the_template_and_follows_the_answer_path(scripted):
    answer = http_connector(scripted).answer(input='He said "hi"\nthen left')
    assert (scripted.bodies[-1], answer.output) == (
        {"question": 'He said "hi"\nthen left', "version": "v2"},
        'You asked: He said "hi"\nthen left',
    )


def test_http_html_reply_is_permanent(scripted):
    scripted.mode = "html"
    with pytest.raises(conn.PermanentConnectorError, match="HTML"):
        http_connector(scripted).answer(input="hi")


def test_http_500_is_transient(scripted):
    scripted.mode = "error500"
    with pytest.raises(conn.TransientConnectorError, match="HTTP 500"):
        http_connector(scripted).answer(input="hi")


def test_http_404_is_permanent(scripted):
    scripted.mode = "not_found"
    with pytest.raises(conn.PermanentConnectorError, match="HTTP 404"):
        http_connector(scripted).answer(input="hi")


def test_http_missing_answer_path_is_permanent(scripted):
    scripted.mode = "bad_path"
    with pytest.raises(conn.PermanentConnectorError, match="data.answer"):
        http_connector(scripted).answer(input="hi")


def test_demo_connector_answers_as_the_demo_version():
    connector = conn.connector_build(
        config={"kind": "demo", "time_scale": 0}, agent_slug="support-bot", version_name="v2"
    )
    assert "can't help" in connector.answer(input="How do I delete my account?").output


def test_demo_connector_refuses_unknown_versions():
    with pytest.raises(conn.PermanentConnectorError, match="no demo agent"):
        conn.connector_build(config={"kind": "demo"}, agent_slug="x", version_name="v9")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"kind": "ftp"}, "kind"),
        ({"kind": "openai", "base_url": "localhost:1", "model": "m"}, "base_url"),
        ({"kind": "openai", "base_url": "http://h/v1"}, "model"),
        (
            {"kind": "http", "url": "http://h", "request_template": "{bad", "answer_path": "a"},
            "JSON",
        ),
        (
            {"kind": "http", "url": "http://h", "request_template": '{"q": 1}', "answer_path": "a"},
            "{{input}}",
        ),
        ({"kind": "demo", "concurrency": 99}, "concurrency"),
        (
            {"kind": "openai", "base_url": "http://h", "model": "m", "api_key_env": "x y"},
            "api_key_env",
        ),
    ],
)
def test_invalid_connector_configs_say_what_is_wrong(config, message):
    with pytest.raises(conn.ConnectorConfigError, match=message):
        conn.connector_config_clean(config=config)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("choices.0.message.content", "hi"),
        ("$.choices[0].message.content", "hi"),
        ("choices.5.message", None),
        ("missing", None),
    ],
)
def test_json_path_follows_keys_and_indexes(path, expected):
    data = {"choices": [{"message": {"content": "hi"}}]}
    assert conn.json_path_get(data, path) == expected
