"""Accuracy and wall time of ``soe.llm.openai`` against a real small model (issue 15).

Four task types over a labelled set of 42 cases: classification into a schema
field, LLM-selected signals (2, 3 exclusive and 4 options), extraction into a
nested ``context_schema`` field, and an agent that must call the right one of
three tools. Each case runs through the engine twice: with the adapter (the
structured request, provider-enforced JSON) and with a plain §7 messages-form
``call_llm`` over the same server without structured output (the baseline).

Needs an OpenAI-compatible server, e.g. ``../shared/real-llm/serve.sh start``
(Qwen2.5-Coder-0.5B on 127.0.0.1:8088; tool calling does not work there, so
agents use ``tool_calling="json"``).

Usage: .venv/bin/python benchmarks/real_llm.py [--quick] [--base-url URL] [--only adapter|plain] [--task WORD]
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from soe import create_all_nodes, orchestrate
from soe.llm import openai
from soe.local_backends import create_in_memory_backends

DEFAULT_BASE_URL = f"http://127.0.0.1:{os.environ.get('REAL_LLM_PORT', '8088')}/v1"
OPTIONS = {"temperature": 0, "max_tokens": 200, "seed": 1}


@dataclass(frozen=True)
class Case:
    """One labelled input: the workflow's initial context and what a right answer is."""

    context: dict[str, Any]
    expected: Any


@dataclass(frozen=True)
class Task:
    """A workflow, its labelled cases and how to read the outcome of one run."""

    name: str
    config: dict[str, Any]
    cases: list[Case]
    outcome: Callable[[Any, str], Any]
    tools: dict[str, Any] = field(default_factory=dict)


# --- classification into a schema field ---------------------------------------------------------

CLASSIFY = {
    "workflows": {"wf": {"Classify": {
        "node_type": "llm", "event_triggers": ["START"], "output_field": "department",
        "prompt": "Which department should handle this customer message?\n{{ context.message }}"}}},
    "context_schema": {"department": {
        "type": "string", "description": "exactly one word: billing, shipping or technical"}},
}
CLASSIFY_CASES = [
    Case({"message": "I was charged twice for my subscription this month."}, "billing"),
    Case({"message": "My parcel has not arrived, the tracking number shows nothing."}, "shipping"),
    Case({"message": "The app crashes every time I open the settings page."}, "technical"),
    Case({"message": "Can I get an invoice with my company's VAT number?"}, "billing"),
    Case({"message": "The courier left my package at the wrong address."}, "shipping"),
    Case({"message": "I get error 500 when I try to log in."}, "technical"),
    Case({"message": "Please refund the payment you took from my credit card by mistake."}, "billing"),
    Case({"message": "How long does delivery to Canada take?"}, "shipping"),
    Case({"message": "The software does not install on Windows 11."}, "technical"),
    Case({"message": "Why is my bill higher than the price on your website?"}, "billing"),
]


def _last(field_name: str) -> Callable[[Any, str], Any]:
    def read(backends: Any, eid: str) -> Any:
        values = backends.context.get_context(eid).get(field_name) or [None]
        value = values[-1]
        return value.strip().lower() if isinstance(value, str) else value
    return read


# --- LLM-selected signals -----------------------------------------------------------------------

def _selector(emissions: list[tuple[str, str]], prompt: str, **node: Any) -> dict[str, Any]:
    return {"wf": {"Decide": {
        "node_type": "llm", "event_triggers": ["START"], "prompt": prompt, "output_field": "note",
        "event_emissions": [{"signal_name": n, "condition": c} for n, c in emissions], **node}}}


MOOD = _selector([("ESCALATE", "the customer is angry or complains about a problem"),
                  ("THANK", "the customer is happy or thanks us")],
                 "Read this customer message and write a one-line note about it.\n{{ context.message }}")
MOOD_CASES = [
    Case({"message": "This is the third time my order is late. I am really fed up!"}, {"ESCALATE"}),
    Case({"message": "Thank you so much, the replacement works perfectly!"}, {"THANK"}),
    Case({"message": "Your support is useless, nobody answers my emails."}, {"ESCALATE"}),
    Case({"message": "Great service, the package came a day early. Thanks!"}, {"THANK"}),
    Case({"message": "I waited an hour on the phone and then the line went dead."}, {"ESCALATE"}),
    Case({"message": "Thanks, the refund arrived today. Have a nice day!"}, {"THANK"}),
    Case({"message": "The screen cracked on day one and you refuse to replace it. Shameful."}, {"ESCALATE"}),
    Case({"message": "Lovely packaging and a handwritten note, thank you!"}, {"THANK"}),
    Case({"message": "Stop sending me spam emails, I unsubscribed twice already!"}, {"ESCALATE"}),
    Case({"message": "Your assistant Tom solved everything, thanks to him and to you."}, {"THANK"}),
]
LANGUAGE = _selector([("ENGLISH", "the message is written in English"),
                      ("FRENCH", "the message is written in French"),
                      ("SPANISH", "the message is written in Spanish")],
                     "In which language is this message written? Note its language.\n{{ context.message }}",
                     exclusive_signals=True)
LANGUAGE_CASES = [
    Case({"message": "Bonjour, je voudrais changer mon adresse de livraison."}, {"FRENCH"}),
    Case({"message": "Hola, quiero cancelar mi pedido, por favor."}, {"SPANISH"}),
    Case({"message": "Hello, I would like to change my delivery address."}, {"ENGLISH"}),
    Case({"message": "Merci beaucoup pour votre aide rapide."}, {"FRENCH"}),
    Case({"message": "¿Dónde está mi paquete? Lo pedí hace dos semanas."}, {"SPANISH"}),
    Case({"message": "Thanks a lot for your quick help."}, {"ENGLISH"}),
    Case({"message": "Ma commande est arrivée cassée, je veux un remboursement."}, {"FRENCH"}),
    Case({"message": "Gracias por su ayuda, todo funciona bien ahora."}, {"SPANISH"}),
    Case({"message": "Where is my parcel? I ordered it two weeks ago."}, {"ENGLISH"}),
    Case({"message": "Je n'arrive pas à me connecter à mon compte."}, {"FRENCH"}),
]
TOPICS = _selector([("REFUND", "the customer asks for their money back"),
                    ("DELIVERY", "the message is about delivery or shipping of a parcel"),
                    ("ACCOUNT", "the message is about logging in, a password or the user account"),
                    ("PRAISE", "the customer praises the product")],
                   "Note what this customer message is about.\n{{ context.message }}")
TOPICS_CASES = [
    Case({"message": "I forgot my password and cannot log in to my account."}, {"ACCOUNT"}),
    Case({"message": "The blender broke after one day, I want my money back."}, {"REFUND"}),
    Case({"message": "Where is my parcel? It was shipped ten days ago."}, {"DELIVERY"}),
    Case({"message": "I love this coffee machine, best purchase of the year!"}, {"PRAISE"}),
    Case({"message": "The shoes do not fit, please refund my payment."}, {"REFUND"}),
    Case({"message": "The courier has not delivered my package yet."}, {"DELIVERY"}),
    Case({"message": "How do I reset my password? The login page rejects it."}, {"ACCOUNT"}),
    Case({"message": "This vacuum cleaner is fantastic, it works better than I hoped."}, {"PRAISE"}),
    Case({"message": "I returned the jacket last week, when do I get my money back?"}, {"REFUND"}),
    Case({"message": "My username is locked after too many login attempts."}, {"ACCOUNT"}),
]


CUSTOMER = _selector([("ESCALATE", "the customer is unhappy, angry or reports a problem"),
                      ("THANK", "the customer is happy and thanks us")],
                     "Read this customer message and write a one-line summary of it.\n{{ context.message }}")
CUSTOMER_CASES = [Case({"message": message}, expected) for message, expected in [
    ("My order arrived broken and nobody answers my emails. This is unacceptable!", {"ESCALATE"}),
    ("Thank you, the new headphones sound amazing!", {"THANK"}),
    ("I have been waiting three weeks for my refund. What is going on?", {"ESCALATE"}),
    ("Your team fixed my problem in five minutes, thanks a lot!", {"THANK"}),
    ("Thanks for nothing. The replacement is broken too.", {"ESCALATE"}),
    ("Worst customer service ever. I want to speak to a manager.", {"ESCALATE"}),
    ("Just wanted to say I love the new app update. Great job, thank you!", {"THANK"}),
    ("The package was delivered to the wrong house again. I am furious.", {"ESCALATE"}),
    ("Thank you for the quick delivery, everything was perfect.", {"THANK"}),
    ("You charged my card twice and support keeps ignoring me.", {"ESCALATE"}),
    ("Thanks for your reply, but my laptop still does not turn on.", {"ESCALATE"}),
    ("Many thanks to Sarah from support, she was very helpful and friendly.", {"THANK"}),
    ("The product stopped working after two days. Very disappointed.", {"ESCALATE"}),
    ("I am very happy with my purchase, thank you so much!", {"THANK"}),
    ("Why does nobody ever pick up the phone? I have called ten times!", {"ESCALATE"}),
    ("Excellent quality and fast shipping. Thanks, I will order again.", {"THANK"}),
    ("I appreciate the discount, thank you for making it right.", {"THANK"}),
    ("The app keeps logging me out and I lose my work every time. Fix it!", {"ESCALATE"}),
    ("Thank you for the help with my account yesterday, it all works now.", {"THANK"}),
    ("I was promised a call back two days ago and still nothing. Disgraceful.", {"ESCALATE"}),
]]


def _signals(backends: Any, eid: str) -> set[str]:
    emitted: set[str] = set()
    for event in backends.telemetry.get_events(eid):
        if event["event_type"] == "signals_broadcast":
            emitted.update(event["context"]["signals"])
    return emitted - {"START"}


# --- extraction into a nested context_schema ----------------------------------------------------

EXTRACT = {
    "workflows": {"wf": {"Extract": {
        "node_type": "llm", "event_triggers": ["START"], "output_field": "order",
        "prompt": "Extract the order from this message.\n{{ context.message }}"}}},
    "context_schema": {"order": {"type": "object", "properties": {
        "customer": {"type": "object", "properties": {
            "name": {"type": "string", "description": "the customer's first name"},
            "city": {"type": "string", "description": "the city the customer lives in"}}},
        "item": {"type": "string", "description": "the product ordered, singular, lower case"},
        "quantity": {"type": "integer", "description": "how many items"}}}},
}
EXTRACT_CASES = [
    Case({"message": "Hi, I'm Alice from Paris. Please send me 3 lamps."}, ("alice", "paris", "lamp", 3)),
    Case({"message": "This is Bob in Berlin, I need 2 chairs."}, ("bob", "berlin", "chair", 2)),
    Case({"message": "Carla here, from Madrid. One table, please."}, ("carla", "madrid", "table", 1)),
    Case({"message": "My name is David, I live in Rome and I want 5 mugs."}, ("david", "rome", "mug", 5)),
    Case({"message": "Eva (Vienna) would like to order 4 pillows."}, ("eva", "vienna", "pillow", 4)),
    Case({"message": "Hello, Frank from London. Send 10 pencils."}, ("frank", "london", "pencil", 10)),
    Case({"message": "Greta, Oslo: 6 candles please."}, ("greta", "oslo", "candle", 6)),
    Case({"message": "I am Hugo and I live in Lisbon. I'd like 2 backpacks."}, ("hugo", "lisbon", "backpack", 2)),
    Case({"message": "Ines from Dublin wants 7 notebooks."}, ("ines", "dublin", "notebook", 7)),
    Case({"message": "Jack, Prague. Order: 1 bicycle."}, ("jack", "prague", "bicycle", 1)),
]


def _singular(word: Any) -> str:
    text = str(word or "").strip().lower()
    return text[:-1] if text.endswith("s") and not text.endswith("ss") else text


def _order(backends: Any, eid: str) -> Any:
    values = backends.context.get_context(eid).get("order") or [None]
    order = values[-1]
    if not isinstance(order, dict) or not isinstance(order.get("customer"), dict):
        return order
    customer = order["customer"]
    return (str(customer.get("name", "")).strip().lower(), str(customer.get("city", "")).strip().lower(),
            _singular(order.get("item")), order.get("quantity"))


# --- an agent choosing one of three tools -------------------------------------------------------

def get_weather(city: str) -> str:
    """Current weather in a city (sunny, rain, temperature)."""
    return f"Sunny and 21 C in {city}"


def convert_currency(amount: float, to_currency: str) -> str:
    """Convert an amount of euros into another currency, e.g. USD or JPY."""
    return f"{amount} EUR = {amount * 1.1:.2f} {to_currency}"


def get_local_time(city: str) -> str:
    """The current local time (clock time, hour) in a city."""
    return f"It is 14:05 in {city}"


AGENT = {"workflows": {"wf": {"Assist": {
    "node_type": "agent", "event_triggers": ["START"], "prompt": "{{ context.request }}",
    "tools": ["get_weather", "convert_currency", "get_local_time"], "output_field": "answer",
    "max_iterations": 3, "retries": 2}}}}
AGENT_TOOLS = {"get_weather": get_weather, "convert_currency": convert_currency,
               "get_local_time": get_local_time}
AGENT_CASES = [
    Case({"request": "Will it rain in Tokyo today?"}, "get_weather"),
    Case({"request": "How much is 50 euros in US dollars?"}, "convert_currency"),
    Case({"request": "What time is it now in New York?"}, "get_local_time"),
    Case({"request": "What is the temperature in Cairo?"}, "get_weather"),
    Case({"request": "Convert 200 EUR to JPY."}, "convert_currency"),
    Case({"request": "Tell me the current hour in Sydney."}, "get_local_time"),
    Case({"request": "Is it sunny in Madrid right now?"}, "get_weather"),
    Case({"request": "I have 80 euros, how many British pounds is that?"}, "convert_currency"),
    Case({"request": "What is the local time in Berlin?"}, "get_local_time"),
    Case({"request": "What's the weather like in Oslo?"}, "get_weather"),
]


def _first_tool(backends: Any, eid: str) -> str | None:
    calls = [e for e in backends.telemetry.get_events(eid) if e["event_type"] == "agent_tool_call"]
    return calls[0]["context"]["tool_name"] if calls else None


TASKS = [
    Task("classification", CLASSIFY, CLASSIFY_CASES, _last("department")),
    Task("signals (2 options)", {"workflows": MOOD}, MOOD_CASES, _signals),
    Task("signals (3, exclusive)", {"workflows": LANGUAGE}, LANGUAGE_CASES, _signals),
    Task("signals (4 options)", {"workflows": TOPICS}, TOPICS_CASES, _signals),
    Task("customer messages", {"workflows": CUSTOMER}, CUSTOMER_CASES, _signals),
    Task("extraction (nested)", EXTRACT, EXTRACT_CASES, _order),
    Task("agent (3 tools)", AGENT, AGENT_CASES, _first_tool, AGENT_TOOLS),
]


# --- running ------------------------------------------------------------------------------------

@dataclass
class Result:
    """One task in one mode: right answers, wall time, requests and prompt tokens."""

    correct: int = 0
    total: int = 0
    seconds: float = 0.0
    requests: int = 0
    prompt_tokens: int = 0
    failed: int = 0
    misses: list[str] = field(default_factory=list)


def adapter_llm(base_url: str) -> Any:
    """The adapter under test: ``soe.llm.openai`` with JSON tool choices (the server has no tool calling)."""
    return openai("local", base_url=base_url, api_key="x", tool_calling="json", **OPTIONS)


def plain_llm(base_url: str) -> Callable[..., Any]:
    """The baseline: a user's §7 messages-form call_llm, plain chat without structured output."""
    chat = openai("local", base_url=base_url, api_key="x", **OPTIONS)

    def call_llm(messages: list[dict[str, Any]], response_model: Any) -> Any:
        return chat(messages, None)

    return call_llm


def run_case(task: Task, case: Case, call_llm: Any) -> tuple[Any, int, int, bool]:
    """The outcome of one case, the requests and prompt tokens it took, and whether the run failed.

    A failed run (an agent out of iterations, say) is reported with what it
    did before failing, such as its first tool call, and never scored right.
    """
    backends = create_in_memory_backends()
    _, broadcast = create_all_nodes(backends, call_llm=call_llm, tools_registry=task.tools)
    eid = str(uuid.uuid4())
    failed = False
    try:
        orchestrate(task.config, "wf", ["START"], dict(case.context), backends, broadcast, execution_id=eid)
    except Exception:
        failed = True
    operational = backends.context.get_context(eid)["__operational__"]
    return (task.outcome(backends, eid), operational["llm_calls"], operational.get("prompt_tokens", 0),
            failed)


def run_task(task: Task, cases: list[Case], call_llm: Any) -> Result:
    result = Result(total=len(cases))
    for case in cases:
        start = time.perf_counter()
        got, requests, tokens, failed = run_case(task, case, call_llm)
        result.seconds += time.perf_counter() - start
        result.requests += requests
        result.prompt_tokens += tokens
        result.failed += failed
        if got == case.expected and not failed:  # an agent counts only if it also finished normally
            result.correct += 1
        else:
            result.misses.append(f"{case.context} -> {got!r} (expected {case.expected!r})")
    return result


def main() -> None:
    args = sys.argv[1:]
    base_url = args[args.index("--base-url") + 1] if "--base-url" in args else DEFAULT_BASE_URL
    quick = "--quick" in args
    modes = {"adapter": adapter_llm(base_url), "plain": plain_llm(base_url)}
    if "--only" in args:
        only = args[args.index("--only") + 1]
        modes = {only: modes[only]}
    print(f"real-model benchmark against {base_url} (temperature 0){' quick' if quick else ''}")
    print(f"{'task':24} {'mode':8} {'right':>7} {'acc':>5} {'wall s':>7} {'reqs':>5} {'prompt tok':>10} "
          f"{'failed':>6}")
    totals = {mode: Result() for mode in modes}
    word = args[args.index("--task") + 1] if "--task" in args else ""
    for task in (t for t in TASKS if word in t.name):
        cases = task.cases[:2] if quick else task.cases
        for mode, call_llm in modes.items():
            r = run_task(task, cases, call_llm)
            print(f"{task.name:24} {mode:8} {r.correct:>3}/{r.total:<3} {100 * r.correct / r.total:>4.0f}% "
                  f"{r.seconds:>7.1f} {r.requests:>5} {r.prompt_tokens:>10} {r.failed:>6}", flush=True)
            for miss in r.misses:
                print(f"    miss: {miss}")
            total = totals[mode]
            total.correct, total.total = total.correct + r.correct, total.total + r.total
            total.seconds, total.requests = total.seconds + r.seconds, total.requests + r.requests
            total.prompt_tokens, total.failed = total.prompt_tokens + r.prompt_tokens, total.failed + r.failed
    for mode, t in totals.items():
        print(f"{'TOTAL':24} {mode:8} {t.correct:>3}/{t.total:<3} {100 * t.correct / max(t.total, 1):>4.0f}% "
              f"{t.seconds:>7.1f} {t.requests:>5} {t.prompt_tokens:>10} {t.failed:>6}")


if __name__ == "__main__":
    main()
