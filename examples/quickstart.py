"""SOE's main job, offline: the seed README's workflow plus an LLM node.

Run it with ``bash scripts/demo``. The LLM is a deterministic stand-in, so
this needs no API key and no network; swap ``offline_llm`` for a real
``call_llm(messages, response_model)`` to talk to a model.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from soe import create_all_nodes, orchestrate
from soe.local_backends import create_local_backends

WORKFLOW = """
example_workflow:
  ValidateInput:
    node_type: router
    event_triggers: [START]
    event_emissions:
      - signal_name: VALID
        condition: "{{ context.data is defined }}"
      - signal_name: INVALID
        condition: "{{ context.data is not defined }}"

  ProcessData:
    node_type: llm
    event_triggers: [VALID]
    prompt: "Process this: {{ context.data }}"
    output_field: result
    event_emissions:
      - signal_name: DONE
"""


def offline_llm(messages: list[dict], response_model: type[BaseModel] | None) -> Any:
    """A deterministic model: answers every field with a summary of the prompt it was given."""
    payload = json.loads(messages[0]["content"].split("\n\n", 1)[0])
    answer = f"processed: {payload['prompt'].removeprefix('Process this: ')}"
    return json.dumps({"result": answer})


def main(data_dir: str) -> dict[str, Any]:
    backends = create_local_backends(data_dir)
    nodes, broadcast = create_all_nodes(backends, call_llm=offline_llm)
    execution_id = orchestrate(
        config=WORKFLOW,
        initial_workflow_name="example_workflow",
        initial_signals=["START"],
        initial_context={"data": "quarterly sales figures"},
        backends=backends,
        broadcast_signals_caller=broadcast,
    )
    context = backends.context.get_context(execution_id)
    print(f"execution {execution_id} finished; stored under {data_dir}")
    print(json.dumps(context, indent=2))
    return context


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else str(Path(tempfile.mkdtemp(prefix="soe-demo-")) / "data")
    main(target)
