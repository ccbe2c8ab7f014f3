"""TopicStore: request batching within Bybit's limits and ack matching (no I/O)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from bybitfast.errors import InvalidParameterError, SubscriptionError
from bybitfast.ws.store import TopicStore, limits_for, private_family


def frames(reqs) -> list[dict]:
    return [orjson.loads(r.frame) for r in reqs]


def test_limits_per_stream_key() -> None:
    assert limits_for("v5_spot_public") == (10, 21_000, None)
    assert limits_for("v5_linear_public") == (500, 21_000, None)
    assert limits_for("v5_option_public") == (500, 21_000, 2_000)
    assert limits_for("v5_private") == (500, None, None)


def test_spot_requests_carry_at_most_ten_args_and_short_req_ids() -> None:
    s = TopicStore("v5_spot_public")
    topics = [f"tickers.S{i}USDT" for i in range(25)]
    s.add(topics)
    out = frames(s.requests("subscribe", list(s.desired)))
    assert [len(f["args"]) for f in out] == [10, 10, 5]
    assert [a for f in out for a in f["args"]] == topics
    assert all(f["op"] == "subscribe" and len(f["req_id"]) <= 8 for f in out)
    assert len({f["req_id"] for f in out}) == 3


def test_linear_batches_up_to_500() -> None:
    s = TopicStore("v5_linear_public")
    s.add([f"t.{i}" for i in range(1200)])
    assert [len(f["args"]) for f in frames(s.resubscribe_all())] == [500, 500, 200]


def test_private_family_never_shares_a_request() -> None:
    assert private_family("order.linear") == "order"
    assert private_family("execution.fast.spot") == "execution.fast"
    assert private_family("wallet") == "wallet"
    s = TopicStore("v5_private")
    s.add(["order", "order.linear", "wallet", "execution.fast", "execution.fast.spot", "execution"])
    for f in frames(s.resubscribe_all()):
        fams = [private_family(t) for t in f["args"]]
        assert len(fams) == len(set(fams)), f


def test_per_connection_character_and_topic_limits_leave_state_intact() -> None:
    s = TopicStore("v5_linear_public")
    s.add(["x" * 20_000])
    with pytest.raises(SubscriptionError) as ei:
        s.add(["y" * 1_001])
    assert ei.value.topics == ["y" * 1_001]
    assert list(s.desired) == ["x" * 20_000]
    o = TopicStore("v5_option_public")
    o.add([f"t{i}" for i in range(2_000)])
    with pytest.raises(SubscriptionError):
        o.add(["one.more"])
    with pytest.raises(InvalidParameterError):
        s.add(['bad"topic'])


async def test_ack_by_req_id_settles_waiter_and_marks_acked() -> None:
    s = TopicStore("v5_linear_public")
    s.add(["a", "b"])
    fut = asyncio.get_running_loop().create_future()
    s.wait("subscribe", ["a", "b"], fut)
    (req,) = s.requests("subscribe", ["a", "b"])
    res = s.on_ack("subscribe", req.req_id, {"success": True, "ret_msg": "", "op": "subscribe", "req_id": req.req_id})
    assert res.ok == ["a", "b"] and s.acked == {"a", "b"} and not s.pending
    assert fut.done() and fut.result() is None
    assert s.sizes() == {"desired": 2, "acked": 2, "pending": 0, "waiters": 0}


async def test_whole_request_refusal_naming_a_topic_fails_only_that_topic() -> None:
    s = TopicStore("v5_linear_public")
    s.add(["tickers.BTCUSDT", "orderbook.7.BTCUSDT"])
    fut = asyncio.get_running_loop().create_future()
    s.wait("subscribe", ["tickers.BTCUSDT", "orderbook.7.BTCUSDT"], fut)
    (req,) = s.requests("subscribe", list(s.desired))
    res = s.on_ack("subscribe", req.req_id, {"success": False, "ret_msg": "error:handler not found,topic:orderbook.7.BTCUSDT", "op": "subscribe"})
    assert list(res.failed) == ["orderbook.7.BTCUSDT"] and res.retry == ["tickers.BTCUSDT"]
    assert list(s.desired) == ["tickers.BTCUSDT"] and not fut.done()
    (again,) = s.requests("subscribe", res.retry)
    s.on_ack("subscribe", again.req_id, {"success": True, "op": "subscribe"})
    with pytest.raises(SubscriptionError) as ei:
        fut.result()
    assert ei.value.topics == ["orderbook.7.BTCUSDT"]


async def test_unnamed_refusal_fails_every_topic_and_already_subscribed_is_success() -> None:
    s = TopicStore("v5_spot_public")
    s.add(["a", "b"])
    (req,) = s.requests("subscribe", ["a", "b"])
    res = s.on_ack("subscribe", req.req_id, {"success": False, "ret_msg": "args size >10", "op": "subscribe"})
    assert sorted(res.failed) == ["a", "b"] and not s.desired
    s.add(["c"])
    (req,) = s.requests("subscribe", ["c"])
    res = s.on_ack("subscribe", req.req_id, {"success": False, "ret_msg": "error:already subscribed,topic:c", "op": "subscribe"})
    assert res.ok == ["c"] and s.acked == {"c"}


def test_option_acks_match_by_success_and_fail_topics_without_req_id() -> None:
    s = TopicStore("v5_option_public")
    s.add(["orderbook.25.A", "orderbook.25.B"])
    s.requests("subscribe", ["orderbook.25.A", "orderbook.25.B"])
    ack = {"success": False, "conn_id": "c", "data": {"failTopics": ["orderbook.25.B"], "successTopics": ["orderbook.25.A"]}, "type": "COMMAND_RESP"}
    res = s.on_ack("subscribe", None, ack)
    assert res.ok == ["orderbook.25.A"] and list(res.failed) == ["orderbook.25.B"]
    assert s.acked == {"orderbook.25.A"} and list(s.desired) == ["orderbook.25.A"] and not s.pending


def test_ack_without_req_id_matches_oldest_request_of_that_op() -> None:
    s = TopicStore("v5_private")
    s.add(["order", "wallet"])
    s.requests("subscribe", ["order"])
    s.requests("subscribe", ["wallet"])
    assert s.on_ack("subscribe", None, {"success": True, "op": "subscribe"}).ok == ["order"]
    assert s.on_ack("subscribe", None, {"success": True, "op": "subscribe"}).ok == ["wallet"]
    assert s.on_ack("subscribe", None, {"success": True, "op": "subscribe"}).request is None  # unknown: ignored


async def test_disconnect_resets_acked_completes_unsubscribes_and_keeps_desired() -> None:
    s = TopicStore("v5_linear_public")
    s.add(["a", "b"])
    (req,) = s.requests("subscribe", ["a", "b"])
    s.on_ack("subscribe", req.req_id, {"success": True, "op": "subscribe"})
    gone = s.remove(["b"])
    assert gone == ["b"]
    fut = asyncio.get_running_loop().create_future()
    s.wait("unsubscribe", gone, fut)
    s.requests("unsubscribe", gone)
    s.on_disconnect()
    assert fut.done() and fut.result() is None  # the socket is gone, so is the subscription
    assert s.acked == set() and not s.pending and list(s.desired) == ["a"]
    assert s.unsent() == ["a"]
    assert frames(s.resubscribe_all())[0]["args"] == ["a"]


async def test_dropped_waiter_leaves_no_trace() -> None:
    s = TopicStore("v5_linear_public")
    s.add(["a"])
    fut = asyncio.get_running_loop().create_future()
    w = s.wait("subscribe", ["a"], fut)
    s.drop_waiter(w)
    assert s.waiters == {}


# ---- request pacing (PROTOCOL §4.5: pace resubscribes) --------------------------------------
def test_pacer_lets_the_burst_through_then_spaces_requests() -> None:
    from bybitfast.errors import ConfigurationError
    from bybitfast.ws.store import RequestPacer

    p = RequestPacer(rate=100.0, burst=3)
    assert [p.ready(10.0) and p.reserve(10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert not p.ready(10.0)
    # the next reservations queue 10 ms apart, however the caller's sleeps turn out
    assert [round(p.reserve(10.0), 6) for _ in range(3)] == [0.01, 0.02, 0.03]
    assert round(p.reserve(10.03), 6) == 0.01  # 30 ms later the queue has drained: the next slot is 10 ms away
    assert p.ready(11.0) and p.reserve(11.0) == 0.0  # refilled (up to the burst, not beyond)
    assert [p.reserve(11.0) == 0.0 for _ in range(3)] == [True, True, False]
    p.reset()
    assert p.ready(11.0) and [p.reserve(11.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    unpaced = RequestPacer(rate=None)
    assert all(unpaced.ready(0.0) and unpaced.reserve(0.0) == 0.0 for _ in range(100))
    with pytest.raises(ConfigurationError):
        RequestPacer(rate=0)
    with pytest.raises(ConfigurationError):
        RequestPacer(burst=0)


def test_pacer_defaults_resubscribe_a_few_hundred_spot_topics_well_under_a_second() -> None:
    from bybitfast.ws.store import RequestPacer

    s = TopicStore("v5_spot_public")
    s.add([f"tickers.S{i}USDT" for i in range(300)])
    reqs = s.resubscribe_all()
    p = RequestPacer()
    last = max(p.reserve(0.0) for _ in reqs)  # when the last of the 30 requests may go
    assert len(reqs) == 30 and last < 0.5
    one = RequestPacer()
    assert one.ready(0.0) and one.reserve(0.0) == 0.0  # a single-batch resubscribe never waits


def test_public_character_limit_counts_the_args_array_as_sent() -> None:
    # ["t1","t2"]: quotes, commas and brackets count (the exchange measures what it receives)
    s = TopicStore("v5_linear_public")
    topics = [f"{i:09d}" for i in range(1_750)]  # 9 chars each: 15,750 raw, 21,001 as a JSON array
    assert len(orjson.dumps(topics)) == 21_001
    with pytest.raises(SubscriptionError):
        s.add(topics)
    assert not s.desired
    s.add(topics[:-1])  # 20,989 characters as sent: fits
    assert len(s.desired) == 1_749
