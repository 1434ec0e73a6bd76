"""The LLM node (SPEC §5.2, §6.3, §6.5, §7, §8, §9, §12.2, §16.2, Appendix A, Q2, Q3, Q6, Q21, Q22)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import ScriptedLLM, events, run

from soe import create_all_nodes, orchestrate
from soe.llm import report_usage
from soe.local_backends import create_in_memory_backends, create_local_backends

FORMAT = ("Respond ONLY with a valid JSON object matching this schema:\n{schema}\n"
          "Do not return the schema itself. Return a JSON instance of the schema.")
INVALID_JSON_FEEDBACK = ("\n\nValidation failed. Fix these fields:\n"
                         "  - : Invalid JSON: expected ident at line 1 column 2\n\nRespond with valid JSON.")


def llm_node(prompt: str = "Summarize {{ context.text }}", **keys: Any) -> dict:
    return {"node_type": "llm", "event_triggers": ["START"], "prompt": prompt, **keys}


def listener(trigger: str, emit: str) -> dict:
    return {"node_type": "router", "event_triggers": [trigger], "event_emissions": [{"signal_name": emit}]}


def payload(prompt_text: str) -> dict:
    return json.loads(prompt_text.split("\n\n", 1)[0])


def fields(backends: Any, eid: str) -> dict:
    return {k: v for k, v in backends.context.get_context(eid).items() if not k.startswith("__")}


def operational(backends: Any, eid: str) -> dict:
    return backends.context.get_context(eid)["__operational__"]


def signals(backends: Any, eid: str) -> list[str]:
    return operational(backends, eid)["signals"]


def orchestrate_with(backends: Any, config: Any, workflow: str, call_llm: Any, context: dict | None = None,
                     extra_nodes: dict | None = None) -> str:
    nodes, broadcast = create_all_nodes(backends, call_llm=call_llm)
    nodes.update(extra_nodes or {})
    return orchestrate(config, workflow, ["START"], context or {}, backends, broadcast)


# --- Appendix A -----------------------------------------------------------------------------

APPENDIX_A = """
workflows:
  chat:
    Answer:
      node_type: llm
      event_triggers: [START]
      identity: helper
      prompt: "Greet {{ context.user }}"
      output_field: reply
      event_emissions:
        - {signal_name: FRIENDLY, condition: "The reply is warm"}
        - {signal_name: FORMAL, condition: "The reply is formal"}
identities:
  helper: "You are kind."
"""


def test_appendix_a_worked_example(backends):
    llm = ScriptedLLM('{"reply": "hi Ana", "selected_signals": ["FRIENDLY"]}')
    eid = orchestrate_with(backends, APPENDIX_A, "chat", llm, {"user": "Ana"})
    ctx = backends.context.get_context(eid)
    assert ctx["user"] == ["Ana"]
    assert ctx["reply"] == ["hi Ana"]
    assert ctx["__operational__"] == {"signals": ["START", "FRIENDLY"], "nodes": {"Answer": 1}, "llm_calls": 1,
                                      "tool_calls": 0, "errors": 0, "main_execution_id": eid}
    assert backends.conversation_history.get_conversation_history(eid) == [
        {"role": "system", "content": "You are kind."},
        {"role": "user", "content": "Greet Ana"},
        {"role": "assistant", "content": "hi Ana"},
    ]
    [(messages, model)] = llm.calls
    assert len(messages) == 1 and messages[0]["role"] == "user"
    text = messages[0]["content"]
    assert payload(text) == {"prompt": "Greet Ana", "context": '{\n  "user": "Ana"\n}',
                             "conversation_history": "[system]: You are kind."}
    assert model.__name__ == "ReplyResponse"
    assert list(model.model_fields) == ["reply", "selected_signals"]
    assert model.model_fields["reply"].is_required()
    assert not model.model_fields["selected_signals"].is_required()
    assert model.model_fields["selected_signals"].default == []
    schema = model.model_json_schema()
    assert schema == {
        "properties": {
            "reply": {"description": "The reply value", "title": "Reply"},
            "selected_signals": {
                "default": [],
                "description": "Select ALL signals that apply (can be none, one, or multiple):\n"
                               "- FRIENDLY: The reply is warm\n- FORMAL: The reply is formal",
                "items": {"enum": ["FRIENDLY", "FORMAL"], "type": "string"},
                "title": "Selected Signals",
                "type": "array",
            },
        },
        "required": ["reply"],
        "title": "ReplyResponse",
        "type": "object",
    }
    assert text.endswith("\n\n" + FORMAT.format(schema=json.dumps(schema)))
    assert model.model_validate({"reply": 1, "selected_signals": ["FORMAL"]}).selected_signals == ["FORMAL"]
    with pytest.raises(ValueError):
        model.model_validate({"reply": 1, "selected_signals": ["OTHER"]})


# --- the exact prompt text (§7.2) -------------------------------------------------------------

SPEC_PROMPT = (
    r'{"prompt":"Summarize hello","context":"{\n  \"text\": \"hello\"\n}","conversation_history":""}'
    "\n\n"
    "Respond ONLY with a valid JSON object matching this schema:\n"
    '{"properties": {"summary": {"description": "The summary value", "title": "Summary"}}, '
    '"required": ["summary"], "title": "SummaryResponse", "type": "object"}\n'
    "Do not return the schema itself. Return a JSON instance of the schema."
)
SPEC_CONFIG = {"wf": {"Summarize": llm_node(output_field="summary", model="gpt-x", temperature=0.2)}}


def test_spec_prompt_text_messages_form(backends):
    llm = ScriptedLLM('{"summary": "short"}')
    eid = run(SPEC_CONFIG, backends, call_llm=llm, context={"text": "hello"})
    assert llm.calls[0][0] == [{"role": "user", "content": SPEC_PROMPT}]
    assert llm.calls[0][1].__name__ == "SummaryResponse"
    assert fields(backends, eid) == {"text": ["hello"], "summary": ["short"]}


def test_spec_prompt_text_prompt_form_receives_node_config(backends):
    received = []

    def call_llm(prompt, config):
        received.append((prompt, dict(config)))
        return '{"summary": "short"}'

    eid = run(SPEC_CONFIG, backends, call_llm=call_llm, context={"text": "hello"})
    assert received == [(SPEC_PROMPT, {**SPEC_CONFIG["wf"]["Summarize"], "name": "Summarize"})]
    assert received[0][1]["model"] == "gpt-x" and received[0][1]["temperature"] == 0.2
    assert fields(backends, eid)["summary"] == ["short"]


def test_prompt_text_escapes_non_ascii_in_context_only(backends):
    llm = ScriptedLLM('{"summary": "ok"}')
    run(SPEC_CONFIG, backends, call_llm=llm, context={"text": "café"})
    first = llm.prompts[0].split("\n\n", 1)[0]
    assert first == r'{"prompt":"Summarize café","context":"{\n  \"text\": \"caf\\u00e9\"\n}","conversation_history":""}'


def test_prompt_without_referenced_fields_has_empty_context(backends):
    llm = ScriptedLLM('{"summary": "ok"}')
    run({"wf": {"N": llm_node("Just talk", output_field="summary")}}, backends, call_llm=llm)
    assert payload(llm.prompts[0]) == {"prompt": "Just talk", "context": "", "conversation_history": ""}


def test_no_output_field_uses_dynamic_response(backends):
    llm = ScriptedLLM('{"output": "free text"}')
    eid = run({"wf": {"N": llm_node("Talk")}}, backends, call_llm=llm)
    model = llm.calls[0][1]
    assert model.__name__ == "DynamicResponse"
    assert model.model_json_schema()["properties"] == {
        "output": {"description": "The final output/result", "title": "Output", "type": "string"}}
    assert fields(backends, eid) == {}
    assert events(backends, eid, "context_warning") == []


# --- retries (§7.6) ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["messages", "prompt"])
def test_retry_feedback_accumulates(backends, form):
    answers = ["not json", '{"other": 1}', '{"summary": "third time"}']
    prompts = []
    if form == "messages":
        def call_llm(messages, response_model):
            prompts.append(messages[0]["content"])
            return answers[len(prompts) - 1]
    else:
        def call_llm(prompt, config):
            prompts.append(prompt)
            return answers[len(prompts) - 1]

    eid = run(SPEC_CONFIG, backends, call_llm=call_llm, context={"text": "hello"})
    first = SPEC_PROMPT + "\n\nPrevious response: not json" + INVALID_JSON_FEEDBACK
    second = (first + '\n\nPrevious response: {"other": 1}'
              + "\n\nValidation failed. Fix these fields:\n  - summary: Field required\n\nRespond with valid JSON.")
    assert prompts == [SPEC_PROMPT, first, second]
    assert fields(backends, eid)["summary"] == ["third time"]
    assert [e["context"] for e in events(backends, eid, "llm_call")] == [{"identity": None}]
    assert operational(backends, eid)["llm_calls"] == 1
    assert events(backends, eid, "node_error") == []


def failure_config(**keys: Any) -> dict:
    node = llm_node(output_field="summary", event_emissions=[{"signal_name": "DONE"}], **keys)
    return {"wf": {"Summarize": node, "Handler": listener("FAILED", "HANDLED"), "After": listener("DONE", "AFTER")}}


def last_error_text(model: Any, raw: str) -> str:
    try:
        model.model_validate_json(raw)
    except ValueError as exc:
        return str(exc)
    raise AssertionError("expected a validation error")


def test_retries_zero_makes_one_call(backends):
    llm = ScriptedLLM("nope")
    with pytest.raises(RuntimeError) as caught:
        run(failure_config(retries=0), backends, call_llm=llm, context={"text": "hello"})
    assert len(llm.calls) == 1
    assert str(caught.value) == "Max retries (0) exceeded. Last error: " + last_error_text(llm.calls[0][1], "nope")


def test_max_retries_with_failure_signal(backends):
    llm = ScriptedLLM("nope", "still nope")
    eid = run(failure_config(retries=1, llm_failure_signal="FAILED"), backends, call_llm=llm,
              context={"text": "hello"})
    assert len(llm.calls) == 2
    message = "Max retries (1) exceeded. Last error: " + last_error_text(llm.calls[0][1], "still nope")
    assert [e["context"] for e in events(backends, eid, "node_error")] == [{"node_type": "llm", "error": message}]
    assert signals(backends, eid) == ["START", "FAILED", "HANDLED"]
    assert fields(backends, eid) == {"text": ["hello"]}
    op = operational(backends, eid)
    assert (op["errors"], op["llm_calls"]) == (1, 1)
    assert op["nodes"] == {"Summarize": 1, "Handler": 1}


def test_max_retries_without_failure_signal_raises_runtime_error(backends):
    llm = ScriptedLLM("nope")
    _, broadcast = create_all_nodes(backends, call_llm=llm)
    eid = "failing-run"
    with pytest.raises(RuntimeError) as caught:
        orchestrate(failure_config(), "wf", ["START"], {"text": "hello", "summary": "old"}, backends, broadcast,
                    execution_id=eid)
    assert type(caught.value) is RuntimeError
    assert len(llm.calls) == 4  # retries default to 3
    expected = "Max retries (3) exceeded. Last error: " + last_error_text(llm.calls[0][1], "nope")
    assert str(caught.value) == expected
    assert fields(backends, eid) == {"text": ["hello"], "summary": ["old"]}
    assert [e["context"] for e in events(backends, eid, "node_error")] == [{"node_type": "llm", "error": expected}]
    op = operational(backends, eid)
    assert op["signals"] == ["START"]
    assert (op["errors"], op["llm_calls"], op["nodes"]) == (1, 1, {"Summarize": 1})


class Boom(Exception):
    pass


def raising_llm(calls: list) -> Any:
    def call_llm(messages, response_model):
        calls.append(messages)
        raise Boom("provider down")
    return call_llm


def test_call_llm_exception_is_not_retried_and_emits_failure_signal(backends):
    calls: list = []
    eid = run(failure_config(retries=5, llm_failure_signal="FAILED"), backends, call_llm=raising_llm(calls),
              context={"text": "hello"})
    assert len(calls) == 1
    assert [e["context"] for e in events(backends, eid, "node_error")] == [
        {"node_type": "llm", "error": "provider down"}]
    assert signals(backends, eid) == ["START", "FAILED", "HANDLED"]


def test_call_llm_exception_without_failure_signal_becomes_runtime_error(backends):
    calls: list = []
    with pytest.raises(RuntimeError) as caught:
        run(failure_config(retries=5), backends, call_llm=raising_llm(calls), context={"text": "hello"})
    assert type(caught.value) is RuntimeError
    assert str(caught.value) == "provider down"
    assert len(calls) == 1


def test_failure_of_a_downstream_node_does_not_trigger_llm_failure_signal(backends):
    ran = []

    def explode(execution_id, node_config):
        ran.append(node_config["name"])
        raise ValueError("downstream broke")

    config = failure_config(llm_failure_signal="FAILED")
    config["wf"]["Explode"] = {"node_type": "_explode", "event_triggers": ["DONE"]}
    llm = ScriptedLLM('{"summary": "fine"}')
    nodes, broadcast = create_all_nodes(backends, call_llm=llm)
    nodes["_explode"] = explode
    eid = "downstream-run"
    with pytest.raises(ValueError, match="downstream broke"):
        orchestrate(config, "wf", ["START"], {"text": "hello"}, backends, broadcast, execution_id=eid)
    assert ran == ["Explode"]
    assert len(llm.calls) == 1
    assert events(backends, eid, "node_error") == []
    assert "FAILED" not in signals(backends, eid)
    assert fields(backends, eid)["summary"] == ["fine"]


def test_failure_of_a_downstream_llm_uses_only_its_own_failure_signal(backends):
    config = {"wf": {
        "First": llm_node("one", output_field="a", llm_failure_signal="FIRST_FAILED",
                          event_emissions=[{"signal_name": "NEXT"}]),
        "Second": {**llm_node("two", output_field="b", llm_failure_signal="SECOND_FAILED", retries=0),
                   "event_triggers": ["NEXT"]},
    }}
    llm = ScriptedLLM('{"a": "ok"}', "broken")
    eid = run(config, backends, call_llm=llm)
    assert signals(backends, eid) == ["START", "NEXT", "SECOND_FAILED"]
    assert len(events(backends, eid, "node_error")) == 1


# --- emission modes (§6.3) --------------------------------------------------------------------


def test_jinja_mode_evaluates_all_emissions_after_the_output_is_appended(backends):
    emissions = [
        {"signal_name": "NEW_VALUE", "condition": "{{ context.summary == 'fresh' }}"},
        {"signal_name": "PLAIN", "condition": "always, as plain text"},
        {"signal_name": "BARE"},
        {"signal_name": "NEVER", "condition": "{{ false }}"},
        {"signal_name": "HISTORY", "condition": "{{ (context.summary | accumulated) == ['stale', 'fresh'] }}"},
    ]
    llm = ScriptedLLM('{"summary": "fresh", "selected_signals": ["NEVER"]}')
    eid = run({"wf": {"N": llm_node(output_field="summary", event_emissions=emissions)}}, backends,
              call_llm=llm, context={"text": "t", "summary": "stale"})
    assert signals(backends, eid) == ["START", "NEW_VALUE", "PLAIN", "BARE", "HISTORY"]
    assert "selected_signals" not in llm.calls[0][1].model_fields


def test_llm_selection_mode_broadcasts_the_selection_in_the_llms_order(backends):
    emissions = [{"signal_name": "A", "condition": "Pick A"}, {"signal_name": "B"},
                 {"signal_name": "C", "condition": ""}]
    llm = ScriptedLLM('{"summary": "s", "selected_signals": ["C", "A", "C"]}')
    config = {"wf": {"N": llm_node(output_field="summary", event_emissions=emissions),
                     "OnC": listener("C", "C_SEEN")}}
    eid = run(config, backends, call_llm=llm, context={"text": "t"})
    assert signals(backends, eid) == ["START", "C", "A", "C", "C_SEEN"]
    description = llm.calls[0][1].model_json_schema()["properties"]["selected_signals"]["description"]
    assert description == "Select ALL signals that apply (can be none, one, or multiple):\n- A: Pick A\n- B\n- C"


@pytest.mark.parametrize("answer", ['{"summary": "s", "selected_signals": []}', '{"summary": "s"}'])
def test_llm_selection_mode_with_empty_selection_emits_nothing(backends, answer):
    emissions = [{"signal_name": "A"}, {"signal_name": "B"}]
    eid = run({"wf": {"N": llm_node(output_field="summary", event_emissions=emissions)}}, backends,
              call_llm=ScriptedLLM(answer), context={"text": "t"})
    assert signals(backends, eid) == ["START"]
    assert [e["context"]["signals"] for e in events(backends, eid, "signals_broadcast")] == [["START"]]
    assert fields(backends, eid)["summary"] == ["s"]


def test_single_emission_is_emitted_unconditionally(backends):
    llm = ScriptedLLM('{"summary": "s"}')
    node = llm_node(output_field="summary",
                    event_emissions=[{"signal_name": "ONLY", "condition": "only if the text is sad"}])
    eid = run({"wf": {"N": node}}, backends, call_llm=llm, context={"text": "t"})
    assert signals(backends, eid) == ["START", "ONLY"]
    assert list(llm.calls[0][1].model_fields) == ["summary"]


def test_no_emissions_emit_nothing(backends):
    eid = run({"wf": {"N": llm_node(output_field="summary")}}, backends, call_llm=ScriptedLLM('{"summary": "s"}'),
              context={"text": "t"})
    assert signals(backends, eid) == ["START"]


# --- context schema (§7.4, §8) ----------------------------------------------------------------


def test_schema_root_model_expects_a_bare_value(backends):
    config = {"workflows": {"wf": {"N": llm_node("Score it", output_field="score",
                                                 event_emissions=[{"signal_name": "SCORED"}])}},
              "context_schema": {"score": {"type": "integer", "description": "A score"}}}
    llm = ScriptedLLM('{"score": 42}', "42")
    eid = run(config, backends, workflow="wf", call_llm=llm)
    model = llm.calls[0][1]
    assert model.__name__ == "ScoreRoot"
    assert len(llm.calls) == 2  # the object form does not validate against an int root model
    assert fields(backends, eid) == {"score": [42]}
    assert signals(backends, eid) == ["START", "SCORED"]
    assert events(backends, eid, "context_warning") == []


def test_schema_object_value_is_stored_as_dict_with_extra_keys(backends):
    config = {"workflows": {"wf": {"N": llm_node("Profile", output_field="profile")}},
              "context_schema": {"profile": {"type": "object", "properties": {"name": "string"}}}}
    llm = ScriptedLLM('{"name": "Ana", "age": 3}')
    eid = run(config, backends, workflow="wf", call_llm=llm)
    assert llm.calls[0][1].__name__ == "ProfileRoot"
    assert fields(backends, eid) == {"profile": [{"name": "Ana", "age": 3}]}


def test_schema_root_model_with_selection_uses_root_type(backends):
    config = {"workflows": {"wf": {"N": llm_node("Score", output_field="score", event_emissions=[
        {"signal_name": "HIGH"}, {"signal_name": "LOW"}])}},
        "context_schema": {"score": "integer"}}
    llm = ScriptedLLM('{"score": "oops", "selected_signals": ["LOW"]}', '{"score": 7, "selected_signals": ["LOW"]}')
    eid = run(config, backends, workflow="wf", call_llm=llm)
    model = llm.calls[0][1]
    assert model.__name__ == "ScoreResponse"
    assert model.model_json_schema()["properties"]["score"]["description"] == "The score value matching the expected schema"
    assert len(llm.calls) == 2
    assert fields(backends, eid) == {"score": [7]}
    assert signals(backends, eid) == ["START", "LOW"]


@pytest.mark.parametrize("schema", [None, {"other": "string"}])
def test_output_field_missing_from_schema_warns_on_main_id(backends, schema):
    workflows = {"wf": {"N": llm_node(output_field="summary")}}
    config = {"workflows": workflows, **({"context_schema": schema} if schema else {})}
    eid = run(config, backends, workflow="wf", call_llm=ScriptedLLM('{"summary": "s"}'), context={"text": "t"})
    assert [e["context"] for e in events(backends, eid, "context_warning")] == [
        {"message": "Output field 'summary' not found in context schema", "output_field": "summary"}]


def test_no_schema_backend_no_warning(backends):
    backends.context_schema = None
    eid = run({"wf": {"N": llm_node(output_field="summary")}}, backends, call_llm=ScriptedLLM('{"summary": "s"}'),
              context={"text": "t"})
    assert events(backends, eid, "context_warning") == []


def child_spy(seen: list) -> Any:
    def spy(execution_id, node_config):
        seen.append(execution_id)
    return spy


def test_schema_warning_inside_a_child_is_registered_on_the_main_id(backends):
    child_ids: list[str] = []
    config = {
        "workflows": {
            "main": {"Spawn": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "sub",
                               "child_initial_signals": ["START"], "input_fields": ["text"]}},
            "sub": {"Spy": {"node_type": "_spy", "event_triggers": ["START"]},
                    "N": llm_node(output_field="summary"),
                    "Scored": {**llm_node("Score", output_field="score"), "event_triggers": ["START"]}},
        },
        "context_schema": {"other": "string", "score": "integer"},
    }
    llm = ScriptedLLM(lambda m, model: "5" if model.__name__ == "ScoreRoot" else '{"summary": "s"}')
    eid = orchestrate_with(backends, config, "main", llm, {"text": "t"}, {"_spy": child_spy(child_ids)})
    [child] = child_ids
    assert [e["context"] for e in events(backends, eid, "context_warning")] == [
        {"message": "Output field 'summary' not found in context schema", "output_field": "summary"}]
    assert events(backends, child, "context_warning") == []
    assert fields(backends, child) == {"text": ["t"], "summary": ["s"], "score": [5]}
    assert [model.__name__ for _, model in llm.calls] == ["SummaryResponse", "ScoreRoot"]


# --- prompt fields and warnings (§6.5, Q21) --------------------------------------------------


def test_prompt_fields_come_from_the_template_ast(backends):
    prompt = ("{% if context.a %}A{% endif %} {{ context.b.c }} {{ context.x ~ context.y }} "
              "{{ context.n }}{{ context['z'] }} {{ context.lst | join(context.sep) }}")
    llm = ScriptedLLM('{"summary": "s"}')
    eid = run({"wf": {"N": llm_node(prompt, output_field="summary")}}, backends, call_llm=llm,
              context={"a": 1, "b": {"c": 2}, "x": "p", "y": "", "n": None, "lst": [1, 2], "sep": "-",
                       "unused": "not referenced"})
    sent = payload(llm.prompts[0])
    assert sent["prompt"] == "A 2 p None 1-2"
    context_fields = json.loads(sent["context"])
    assert context_fields == {"a": 1, "b": {"c": 2}, "x": "p", "y": "", "n": None, "lst": [1, 2], "sep": "-"}
    assert sent["context"] == json.dumps(context_fields, indent=2)
    [warning] = events(backends, eid, "context_warning")[1:]  # the first is the schema warning
    assert sorted(warning["context"]["warnings"]) == sorted([
        "Context field 'y' is empty string",
        "Context field 'n' is None",
        "Context field 'z' referenced in prompt but not found in context",
    ])
    assert len(warning["context"]["warnings"]) == 3


def test_each_field_is_warned_once(backends):
    prompt = "{{ context.gone }} {{ context.gone }} {% if context.gone %}{% endif %} {{ context['gone'] }}"
    eid = run({"wf": {"N": llm_node(prompt)}}, backends, call_llm=ScriptedLLM('{"output": "x"}'))
    assert [e["context"] for e in events(backends, eid, "context_warning")] == [
        {"warnings": ["Context field 'gone' referenced in prompt but not found in context"]}]


def test_no_warnings_no_event(backends):
    eid = run({"wf": {"N": llm_node("{{ context.text }}")}}, backends, call_llm=ScriptedLLM('{"output": "x"}'),
              context={"text": "fine"})
    assert events(backends, eid, "context_warning") == []


# --- storing the output (§3.4, Q2, Q22) ------------------------------------------------------


def test_none_output_is_not_stored(backends):
    llm = ScriptedLLM('{"summary": null}')
    node = llm_node(output_field="summary", identity="anyone", event_emissions=[{"signal_name": "DONE"}])
    eid = run({"wf": {"N": node}}, backends, call_llm=llm, context={"text": "t"})
    assert fields(backends, eid) == {"text": ["t"]}
    assert signals(backends, eid) == ["START", "DONE"]
    assert backends.conversation_history.get_conversation_history(eid)[-1] == {"role": "assistant",
                                                                              "content": "None"}


@pytest.mark.parametrize("kind", ["memory", "files"])
def test_output_is_written_once_with_every_backend(tmp_path, kind):
    backends = create_in_memory_backends() if kind == "memory" else create_local_backends(tmp_path)
    emissions = [{"signal_name": "ONCE", "condition": "{{ (context.summary | accumulated) == ['old', 'new'] }}"},
                 {"signal_name": "TWICE", "condition": "{{ (context.summary | accumulated) | length > 2 }}"}]
    config = {"wf": {"N": llm_node(output_field="summary", event_emissions=emissions),
                     "Again": listener("ONCE", "SEEN")}}
    eid = run(config, backends, call_llm=ScriptedLLM('{"summary": "new"}'), context={"text": "t", "summary": "old"})
    assert backends.context.get_context(eid)["summary"] == ["old", "new"]
    assert signals(backends, eid) == ["START", "ONCE", "SEEN"]


def test_stored_output_climbs_to_the_parent(backends):
    config = {"main": {"Spawn": {"node_type": "child", "event_triggers": ["START"], "child_workflow_name": "sub",
                                 "child_initial_signals": ["GO"], "context_updates_to_parent": ["summary"]}},
              "sub": {"N": {**llm_node("Go", output_field="summary"), "event_triggers": ["GO"]}}}
    eid = run(config, backends, workflow="main", call_llm=ScriptedLLM('{"summary": "from child"}'))
    assert fields(backends, eid) == {"summary": ["from child"]}


# --- identities and conversation history (§9, Q6) --------------------------------------------


def history_config(**extra_nodes: dict) -> dict:
    return {
        "workflows": {"wf": {
            "First": llm_node("Hi {{ context.user }}", identity="helper", output_field="a",
                              event_emissions=[{"signal_name": "NEXT"}]),
            "Plain": {**llm_node("No identity", output_field="p"), "event_triggers": ["NEXT"]},
            "Second": {**llm_node("Again", identity="strict", output_field="b"), "event_triggers": ["NEXT"]},
            **extra_nodes,
        }},
        "identities": {"helper": "You are kind.", "strict": "You are strict."},
    }


def test_one_history_per_main_execution_with_only_the_first_system_prompt(backends):
    llm = ScriptedLLM(lambda m, model: {"AResponse": '{"a": "A1"}', "PResponse": '{"p": "P1"}',
                                        "BResponse": '{"b": "B1"}'}[model.__name__])
    eid = run(history_config(), backends, workflow="wf", call_llm=llm, context={"user": "Ana"})
    assert backends.conversation_history.get_conversation_history(eid) == [
        {"role": "system", "content": "You are kind."},
        {"role": "user", "content": "Hi Ana"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": "B1"},
    ]
    histories = [payload(p)["conversation_history"] for p in llm.prompts]
    assert histories == ["[system]: You are kind.", "",
                         "[system]: You are kind.\n[user]: Hi Ana\n[assistant]: A1"]
    for key in ("helper", "strict"):
        assert backends.conversation_history.get_conversation_history(key) == []
    assert [e["context"] for e in events(backends, eid, "llm_call")] == [
        {"identity": "helper"}, {"identity": None}, {"identity": "strict"}]


def test_unknown_identity_uses_history_without_system_entry(backends):
    config = {"wf": {"N": llm_node("Hello", identity="nobody", output_field="summary")}}
    llm = ScriptedLLM('{"summary": "S1"}')
    eid = run(config, backends, call_llm=llm)
    assert payload(llm.prompts[0])["conversation_history"] == ""
    assert backends.conversation_history.get_conversation_history(eid) == [
        {"role": "user", "content": "Hello"}, {"role": "assistant", "content": "S1"}]


def test_no_history_backend_means_no_history(backends):
    backends.conversation_history = None
    llm = ScriptedLLM(lambda m, model: {"AResponse": '{"a": "1"}', "PResponse": '{"p": "2"}',
                                        "BResponse": '{"b": "3"}'}[model.__name__])
    eid = run(history_config(), backends, workflow="wf", call_llm=llm, context={"user": "Ana"})
    assert fields(backends, eid) == {"user": ["Ana"], "a": ["1"], "p": ["2"], "b": ["3"]}
    assert [payload(p)["conversation_history"] for p in llm.prompts] == ["", "", ""]


def test_no_identity_backend_means_no_system_entry(backends):
    backends.identity = None
    llm = ScriptedLLM(lambda m, model: {"AResponse": '{"a": "1"}', "PResponse": '{"p": "2"}',
                                        "BResponse": '{"b": "3"}'}[model.__name__])
    eid = run(history_config(), backends, workflow="wf", call_llm=llm, context={"user": "Ana"})
    assert backends.conversation_history.get_conversation_history(eid) == [
        {"role": "user", "content": "Hi Ana"}, {"role": "assistant", "content": "1"},
        {"role": "user", "content": "Again"}, {"role": "assistant", "content": "3"}]


def test_history_is_shared_with_children(backends):
    config = {
        "workflows": {
            "main": {
                "Greet": llm_node("Parent turn", identity="helper", output_field="a",
                                  event_emissions=[{"signal_name": "SPAWN"}]),
                "Spawn": {"node_type": "child", "event_triggers": ["SPAWN"], "child_workflow_name": "sub",
                          "child_initial_signals": ["START"]},
            },
            "sub": {"Child": llm_node("Child turn", identity="strict", output_field="b")},
        },
        "identities": {"helper": "You are kind.", "strict": "You are strict."},
    }
    llm = ScriptedLLM('{"a": "PA"}', '{"b": "CB"}')
    eid = run(config, backends, workflow="main", call_llm=llm)
    assert backends.conversation_history.get_conversation_history(eid) == [
        {"role": "system", "content": "You are kind."},
        {"role": "user", "content": "Parent turn"}, {"role": "assistant", "content": "PA"},
        {"role": "user", "content": "Child turn"}, {"role": "assistant", "content": "CB"},
    ]
    assert payload(llm.prompts[1])["conversation_history"] == (
        "[system]: You are kind.\n[user]: Parent turn\n[assistant]: PA")


def test_assistant_history_entry_is_str_of_output(backends):
    config = {"workflows": {"wf": {"N": llm_node("Count", identity="helper", output_field="n")}},
              "context_schema": {"n": {"type": "object"}}}
    eid = run(config, backends, workflow="wf", call_llm=ScriptedLLM('{"k": [1, 2]}'))
    assert backends.conversation_history.get_conversation_history(eid)[-1] == {
        "role": "assistant", "content": "{'k': [1, 2]}"}


# --- accounting: llm_call, usage, telemetry (§12.2, §16.2) ----------------------------------


def test_one_llm_call_per_node_run(backends):
    llm = ScriptedLLM("bad", "bad", '{"summary": "ok"}')
    config = {"wf": {"N": llm_node(output_field="summary", event_emissions=[{"signal_name": "LOOP"}]),
                     "Stop": listener("LOOP", "STOPPED")}}
    eid = run(config, backends, call_llm=llm, context={"text": "t"})
    assert len(llm.calls) == 3
    assert len(events(backends, eid, "llm_call")) == 1
    _, broadcast = create_all_nodes(backends, call_llm=ScriptedLLM('{"summary": "again"}'))
    broadcast(eid, ["START"])
    assert operational(backends, eid)["llm_calls"] == 2
    assert fields(backends, eid)["summary"] == ["ok", "again"]


def test_reported_usage_registers_llm_usage_and_counters(backends):
    answers = iter(["junk", '{"summary": "ok"}'])

    def call_llm(messages, response_model):
        report_usage(3, 4)
        return next(answers)

    config = {"wf": {"N": llm_node(output_field="summary", event_emissions=[{"signal_name": "DONE"}])}}
    eid = run(config, backends, call_llm=call_llm, context={"text": "t"})
    sequence = [e["event_type"] for e in events(backends, eid)][2:]
    assert sequence == ["node_execution", "context_warning", "llm_call", "llm_usage", "llm_usage",
                        "signals_broadcast"]
    assert [e["context"] for e in events(backends, eid, "llm_usage")] == [
        {"prompt_tokens": 3, "completion_tokens": 4}, {"prompt_tokens": 3, "completion_tokens": 4}]
    op = operational(backends, eid)
    assert list(op) == ["signals", "nodes", "llm_calls", "tool_calls", "errors", "main_execution_id",
                        "prompt_tokens", "completion_tokens"]
    assert (op["prompt_tokens"], op["completion_tokens"], op["llm_calls"]) == (6, 8, 1)


def test_several_reports_in_one_invocation_add_up(backends):
    def call_llm(messages, response_model):
        report_usage(1, 2)
        report_usage(10, 20)
        return '{"summary": "ok"}'

    eid = run({"wf": {"N": llm_node(output_field="summary")}}, backends, call_llm=call_llm, context={"text": "t"})
    assert [e["context"] for e in events(backends, eid, "llm_usage")] == [
        {"prompt_tokens": 11, "completion_tokens": 22}]


def test_no_usage_report_adds_nothing(backends):
    eid = run({"wf": {"N": llm_node(output_field="summary")}}, backends, call_llm=ScriptedLLM('{"summary": "ok"}'),
              context={"text": "t"})
    assert events(backends, eid, "llm_usage") == []
    assert list(operational(backends, eid)) == ["signals", "nodes", "llm_calls", "tool_calls", "errors",
                                                "main_execution_id"]


def test_usage_reported_by_a_raising_call_is_accounted(backends):
    def call_llm(messages, response_model):
        report_usage(5, 0)
        raise Boom("late failure")

    eid = run(failure_config(llm_failure_signal="FAILED"), backends, call_llm=call_llm, context={"text": "t"})
    assert [e["context"] for e in events(backends, eid, "llm_usage")] == [
        {"prompt_tokens": 5, "completion_tokens": 0}]
    assert operational(backends, eid)["prompt_tokens"] == 5


def test_llm_telemetry_sequence(backends):
    node = llm_node("Summarize {{ context.text }} {{ context.gone }}", identity="helper", output_field="summary",
                    event_emissions=[{"signal_name": "DONE"}])
    eid = run({"wf": {"N": node}}, backends, call_llm=ScriptedLLM('{"summary": "s"}'), context={"text": "t"})
    assert [(e["event_type"], e["context"]) for e in events(backends, eid)] == [
        ("orchestration_start", {"workflow_name": "wf"}),
        ("signals_broadcast", {"signals": ["START"]}),
        ("node_execution", {"node_name": "N", "node_type": "llm"}),
        ("context_warning", {"message": "Output field 'summary' not found in context schema",
                             "output_field": "summary"}),
        ("llm_call", {"identity": "helper"}),
        ("context_warning", {"warnings": ["Context field 'gone' referenced in prompt but not found in context"]}),
        ("signals_broadcast", {"signals": ["DONE"]}),
    ]


def test_returned_dict_and_model_instances_are_accepted(backends):
    def answer(messages, model):
        return model(summary="as instance") if "first" in messages[0]["content"] else {"summary": "as dict"}

    config = {"wf": {"A": llm_node("first", output_field="summary", event_emissions=[{"signal_name": "NEXT"}]),
                     "B": {**llm_node("second", output_field="summary"), "event_triggers": ["NEXT"]}}}
    eid = run(config, backends, call_llm=ScriptedLLM(answer))
    assert fields(backends, eid) == {"summary": ["as instance", "as dict"]}


# --- failures that are not the LLM's (§4.5, §15) ---------------------------------------------


def test_prompt_render_error_passes_through_the_failure_handler(backends):
    from soe import TemplateRenderError

    llm = ScriptedLLM('{"summary": "never"}')
    config = failure_config(prompt="Use {{ context.text.missing.deeper }}", llm_failure_signal="FAILED")
    _, broadcast = create_all_nodes(backends, call_llm=llm)
    with pytest.raises(TemplateRenderError) as caught:
        orchestrate(config, "wf", ["START"], {"text": "t", "summary": "old"}, backends, broadcast,
                    execution_id="render-error")
    assert (caught.value.node_name, caught.value.field) == ("Summarize", "prompt")
    assert str(caught.value).startswith("Template error in node 'Summarize', prompt: ")
    assert llm.calls == []
    assert events(backends, "render-error", "node_error") == []
    assert fields(backends, "render-error") == {"text": ["t"], "summary": ["old"]}
    op = operational(backends, "render-error")
    assert (op["signals"], op["errors"], op["llm_calls"]) == (["START"], 0, 1)


def test_prompt_sandbox_violation_passes_through_the_failure_handler(backends):
    from soe import TemplateSecurityError

    llm = ScriptedLLM('{"summary": "never"}')
    config = failure_config(prompt="{{ ''.__class__.__mro__ }}", llm_failure_signal="FAILED")
    _, broadcast = create_all_nodes(backends, call_llm=llm)
    with pytest.raises(TemplateSecurityError) as caught:
        orchestrate(config, "wf", ["START"], {}, backends, broadcast, execution_id="ssti")
    assert (caught.value.node_name, caught.value.field) == ("Summarize", "prompt")
    assert llm.calls == []
    assert [e["context"] for e in events(backends, "ssti", "template_security_error")] == [
        {"node_name": "Summarize", "error": str(caught.value)}]
    assert events(backends, "ssti", "node_error") == []


def test_failed_call_adds_no_history_turns(backends):
    config = {"workflows": failure_config(identity="helper", llm_failure_signal="FAILED", retries=0),
              "identities": {"helper": "You are kind."}}
    eid = run(config, backends, workflow="wf", call_llm=ScriptedLLM("nope"), context={"text": "t"})
    assert backends.conversation_history.get_conversation_history(eid) == [
        {"role": "system", "content": "You are kind."}]
    assert signals(backends, eid) == ["START", "FAILED", "HANDLED"]


def test_jinja_mode_sees_a_none_output_that_was_not_stored(backends):
    emissions = [{"signal_name": "IS_NONE", "condition": "{{ context.summary is none }}"},
                 {"signal_name": "BROKEN", "condition": "{{ context.summary.upper() }}"},
                 {"signal_name": "PLAIN"}]
    eid = run({"wf": {"N": llm_node(output_field="summary", event_emissions=emissions)}}, backends,
              call_llm=ScriptedLLM('{"summary": null}'), context={"text": "t", "summary": "old"})
    assert signals(backends, eid) == ["START", "IS_NONE", "PLAIN"]
    assert fields(backends, eid) == {"text": ["t"], "summary": ["old"]}


class AliasingContextBackend:
    """A protocol-only context backend that hands out its stored objects (as upstream's in-memory one did)."""

    def __init__(self) -> None:
        self.store: dict[str, dict] = {}

    def save_context(self, execution_id: str, context: dict) -> None:
        self.store[execution_id] = context

    def get_context(self, execution_id: str) -> dict:
        return self.store.get(execution_id, {})


def test_output_is_written_once_even_when_the_backend_returns_its_stored_object(backends):
    # Q2 "whatever the backend": no append_to_field, and get_context aliases the store.
    backends.context = AliasingContextBackend()
    emissions = [{"signal_name": "ONCE", "condition": "{{ (context.summary | accumulated) == ['old', 'new'] }}"},
                 {"signal_name": "LAST", "condition": "{{ context.summary == 'new' }}"}]
    eid = run({"wf": {"N": llm_node(output_field="summary", event_emissions=emissions)}}, backends,
              call_llm=ScriptedLLM('{"summary": "new"}'), context={"text": "t", "summary": "old"})
    assert backends.context.store[eid]["summary"] == ["old", "new"]
    assert signals(backends, eid) == ["START", "ONCE", "LAST"]


def test_prompt_can_use_the_accumulated_filter(backends):
    llm = ScriptedLLM('{"best": "b"}')
    node = llm_node("Pick the best of: {{ context.drafts | accumulated | join(', ') }}", output_field="best")
    run({"wf": {"N": node}}, backends, call_llm=llm, context={"drafts": ["a", "b", "c"]})
    sent = payload(llm.prompts[0])
    assert sent["prompt"] == "Pick the best of: a, b, c"
    assert json.loads(sent["context"]) == {"drafts": ["a", "b", "c"]}


def test_async_call_llm_is_awaited(backends):
    async def call_llm(messages, response_model):
        return '{"summary": "async"}'

    eid = run({"wf": {"N": llm_node(output_field="summary")}}, backends, call_llm=call_llm, context={"text": "t"})
    assert fields(backends, eid)["summary"] == ["async"]
