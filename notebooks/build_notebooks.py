"""Write the notebooks from their cell sources (run: python notebooks/build_notebooks.py).

Keeping the cells here makes notebook changes reviewable as plain Python in diffs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent


def write(name: str, cells: list[tuple[str, str]], folder: Path = HERE) -> None:
    notebook = new_notebook(
        cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(notebook, folder / name)


TOUR = [
    (
        "md",
        "# 01 · A tour of the support agent\n\nBuild the support graph on the embedded SQLite default, run a request, read the interrupt payload, resume it with each kind of decision, walk the checkpoint history, and draw the graph. Everything runs offline with the deterministic model.",
    ),
    (
        "code",
        "import json\nimport tempfile\nfrom pathlib import Path\n\nfrom IPython.display import Markdown, display\n\nfrom hitl_runtime.runner import Runner\nfrom hitl_runtime.settings import Settings\nfrom hitl_runtime.users import add_user\n\nfolder = Path(tempfile.mkdtemp(prefix='hitl-tour-'))\nrunner = Runner(Settings(database_url=f'sqlite:///{folder}/tour.db'))\nfor name, roles in {'sam': ['support_agent'], 'lee': ['support_lead'], 'eve': ['end_user']}.items():\n    add_user(runner.db, name, roles)\nrunner.db.url",
    ),
    (
        "md",
        "## The graph\n\n`graphs/support.py` returns an uncompiled `StateGraph`; the runner compiles it with the checkpointer chosen at the edge.",
    ),
    (
        "code",
        "from graphs import support\n\ngraph = runner.graph('support')\ndisplay(Markdown('```mermaid\\n' + support.build_graph().compile().get_graph().draw_mermaid() + '\\n```'))",
    ),
    (
        "md",
        "## A request that pauses for review\n\nA refund always needs a human. The run stops at the approval gate's `interrupt()`.",
    ),
    (
        "code",
        "context = {'customer': {'id': 'c-1', 'name': 'Lena Park'}, 'order': {'id': 'o-5001', 'amount': 45, 'days_since_delivery': 3}}\nresult = runner.run('support', 'My blender arrived with a cracked jar. Can I get my $45 back?', user='eve', context=context)\nresult.as_dict()",
    ),
    (
        "md",
        "The interrupt value is a LangChain `HITLRequest` (`action_requests`, `review_configs`) plus everything a reviewer needs.",
    ),
    (
        "code",
        "review = runner.show(result.reviews[0])\npayload = review['interrupt']\nprint(json.dumps({k: payload[k] for k in ('action_requests', 'review_configs')}, indent=1)[:1500])\nsorted(payload)",
    ),
    (
        "code",
        "for signal in payload['confidence_signals'] + payload['risk_signals']:\n    print(f\"{signal['name']:<22} {signal['value']:.2f}  {signal['detail']}\")\nprint()\nfor check in payload['checks']:\n    print('pass' if check['passed'] else 'FAIL', check['id'], '-', check['rule'])",
    ),
    (
        "md",
        "## Each kind of decision\n\nDecisions go through `Runner.decide`, which checks the reviewer's role, the payload hash and the review's state before it resumes the thread with `Command(resume={interrupt_id: ...})`.",
    ),
    (
        "code",
        "def refund(amount, order):\n    ctx = {'customer': {'id': f'c-{order}', 'name': 'Lena Park'}, 'order': {'id': order, 'amount': amount, 'days_since_delivery': 3}}\n    return runner.run('support', f'My kettle broke, can I get my ${amount} back?', user='eve', context=ctx)\n\nrows = []\nfor decision, kwargs in [('approve', {}), ('edit', {'args': {'amount': 30}, 'category': 'wrong_amount'}),\n                         ('reject', {'comment': 'used item', 'category': 'policy_violation'}),\n                         ('request-info', {'comment': 'Please send a photo'}), ('escalate', {'comment': 'unsure'})]:\n    pending = refund(40, f'o-{len(rows) + 100}')\n    out = runner.decide(pending.reviews[0], decision, 'sam', **kwargs)\n    rows.append({'decision': decision, 'review': out['status'], 'thread': out['thread']['status'], 'reply': (out['thread']['reply'] or '')[:70]})\nrows",
    ),
    (
        "md",
        "## Walking the checkpoint history\n\nEvery step is a checkpoint. We can list them, replay from an earlier one, or update state (a fork, for research only: production decisions always go through `decide`).",
    ),
    (
        "code",
        "config = {'configurable': {'thread_id': result.thread_id}}\nhistory = list(graph.get_state_history(config))\n[(h.metadata.get('step'), h.next, h.config['configurable']['checkpoint_id'][-8:]) for h in history]",
    ),
    (
        "code",
        "before_gate = next(h for h in history if h.next == ('approval_gate',))\nreplayed = graph.invoke(None, before_gate.config, context=runner.context('support', result.thread_id))\nprint('replay paused again at:', [i.value['review_id'] for i in replayed['__interrupt__']])",
    ),
    (
        "code",
        "forked = graph.update_state(before_gate.config, {'reply': 'a note added by a researcher'})\ngraph.get_state(forked).values['reply']",
    ),
]


NOTEBOOKS = {"01_tour.ipynb": TOUR}


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for file_name, cells in NOTEBOOKS.items():
        write(file_name, cells, target)
