"""Write the notebooks from their cell sources (run: python notebooks/build_notebooks.py).

Keeping the cells here makes notebook changes reviewable as plain Python in diffs.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent


STRICT = (
    "code",
    "# LangGraph's strict msgpack mode, first, whatever is imported next (hitl_core/strict_msgpack.py).\n"
    "from hitl_core.strict_msgpack import enable_strict_msgpack\n\nenable_strict_msgpack()",
)
"""Every notebook's first code cell: the kernel is a process the project starts."""


def write(name: str, cells: list[tuple[str, str]], folder: Path = HERE) -> None:
    title, rest = cells[0], cells[1:]
    cells = [title, STRICT, *rest] if title[0] == "md" else [STRICT, *cells]
    notebook = new_notebook(
        cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"{Path(name).stem}-{index:02d}"  # stable ids: rebuilding changes nothing
    nbformat.write(notebook, folder / name)


def md(text: str) -> tuple[str, str]:
    """A markdown cell from an indented triple-quoted string."""
    return ("md", dedent(text).strip())


def code(text: str) -> tuple[str, str]:
    """A code cell from an indented triple-quoted string."""
    return ("code", dedent(text).strip())


TOUR = [
    (
        "md",
        "# 01 · A tour of the support agent\n\nBuild the support graph on the embedded SQLite default, run a request, read the interrupt payload, resume it with each kind of decision, walk the checkpoint history, and draw the graph. Everything runs offline with the deterministic model.",
    ),
    (
        "code",
        "import json\nimport tempfile\nfrom pathlib import Path\n\nfrom IPython.display import Markdown, display\n\nfrom hitl_core.settings import Settings\nfrom hitl_core.users import add_user\nfrom hitl_runtime.runner import Runner\n\nfolder = Path(tempfile.mkdtemp(prefix='hitl-tour-'))\nrunner = Runner(Settings(database_url=f'sqlite:///{folder}/tour.db'))\nfor name, roles in {'sam': ['support_agent'], 'lee': ['support_lead'], 'eve': ['end_user']}.items():\n    add_user(runner.db, name, roles)\nrunner.db.url",
    ),
    (
        "md",
        "## The graph\n\n`graphs/support/graph.py` returns an uncompiled `StateGraph`; the runner compiles it with the checkpointer chosen at the edge.",
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


REVIEWERS = [
    md(
        """
        # 02 · Reviewers at scale

        Every scenario set goes through its agent (support, ops, compliance) on the embedded SQLite default,
        and simulated reviewers decide every review through `Runner.decide`: the same role, tier, two-person,
        payload-hash and audit checks as in production. The simulation runs on a simulated clock
        (`hitl_core.canonical.use_clock`), so every timestamp the runtime writes is simulated time and
        `hitl_core.metrics.compute` reads the seed's metrics, time to review included, from the tables as it
        would in production. The model (reviewer accuracy, strictness and latency, ground truth, queueing,
        deadlines) is described in `hitl_lab/simulation.py`.
        """
    ),
    code(
        """
        import tempfile
        from collections import Counter
        from dataclasses import asdict
        from pathlib import Path

        import matplotlib.pyplot as plt
        import pandas as pd

        from hitl_core import metrics
        from hitl_core.settings import Settings
        from hitl_lab import simulation
        from hitl_runtime.runner import Runner

        folder = Path(tempfile.mkdtemp(prefix='hitl-reviewers-'))
        runner = Runner(Settings(database_url=f'sqlite:///{folder}/reviewers.db'))
        # The scenario sets: HITL_SCENARIO_DIRS, else the repository's own beside this folder (and the design's samples).
        folders = [Path(f) for f in Settings().scenario_dirs] or [Path('../tests/scenarios'), Path('../tests/scenarios/shared')]
        cases = simulation.load_cases(simulation.scenario_files(folders))
        sets = Counter((case.dataset, case.scenario.agent) for case in cases)
        pd.DataFrame([{'set': s, 'agent': a, 'cases': n} for (s, a), n in sets.items()])
        """
    ),
    md(
        """
        ## The reviewers

        One team covers every role the policies name. Each reviewer judges a proposal correctly with
        probability `accuracy`; holds back one it judges sound with probability `strictness` × (1 − confidence)
        (escalating while a tier above exists, else asking the requester); and takes a lognormal time with
        median `latency_median_s`. Leads take twice as long, compliance officers three times, on-call SREs half.
        """
    ),
    code(
        """
        reviewers = simulation.team(accuracy=0.92, strictness=0.15, latency_median_s=240, latency_spread=0.6)
        pd.DataFrame([asdict(r) for r in reviewers])
        """
    ),
    md(
        """
        ## One simulated deployment

        Requests arrive every two minutes on average (Poisson). Ground truth comes from the scenarios: a case
        expected to be blocked must not be approved, and 15% of the other proposals carry a latent defect
        (an amount too high, a text that needs fixing, or something only a rejection fixes). A review nobody
        decides by its deadline is expired by `Runner.sweep`; each false approval that executed is reported
        as an incident an hour later.
        """
    ),
    code(
        """
        result = simulation.simulate(runner, cases, reviewers, seed=7, arrival_interval_s=120, defect_rate=0.15)
        print(f'simulated time {result.started} -> {result.finished}: {len(result.cases)} requests, '
              f'{len(result.decisions)} reviewer decisions')
        print('first route as the scenarios expect:', result.route_accuracy())
        pd.DataFrame(result.cases).groupby(['agent', 'route']).size().unstack(fill_value=0)
        """
    ),
    md(
        """
        ## The seed's metrics, read from the tables

        `metrics.compute` over the reviews, ledger, feedback and incidents tables: rates over decided reviews
        (approval includes approval with edits), time to review from each review's `created_at` to its
        `decided_at`, and false approvals as approved actions later reported as incidents.
        """
    ),
    code(
        """
        report = metrics.compute(runner.db)
        agents = list(report['per_agent'])
        keys = ['reviews', 'approval_rate', 'edit_rate', 'rejection_rate', 'escalation_rate', 'expiry_rate',
                'false_approval_rate', 'post_approval_incident_rate', 'auto_share']
        pd.DataFrame({
            name: {k: m[k] for k in keys} | {'median review (min)': m['time_to_review']['median_s'] / 60,
                                             'p90 review (min)': m['time_to_review']['p90_s'] / 60}
            for name, m in [*report['per_agent'].items(), ('all', report)]
        }).round(3)
        """
    ),
    code(
        """
        rates = ['approval_rate', 'edit_rate', 'rejection_rate', 'escalation_rate', 'expiry_rate']
        width = 0.8 / len(rates)
        fig, ax = plt.subplots(figsize=(9, 3.5))
        for i, rate in enumerate(rates):
            ax.bar([x + i * width for x in range(len(agents))], [report['per_agent'][a][rate] or 0 for a in agents],
                   width, label=rate.removesuffix('_rate'))
        ax.set_xticks([x + width * (len(rates) - 1) / 2 for x in range(len(agents))], agents)
        ax.set_ylabel('share of decided reviews')
        ax.set_title('Decisions per agent (approval includes approval with edits)')
        ax.legend(ncols=len(rates), fontsize=8)
        plt.show()
        """
    ),
    md(
        """
        ### Time to review

        Simulated latency plus the wait for a free reviewer of the right role, as the runtime recorded it. The
        lines are the median and 90th percentile that `metrics.compute` reports.
        """
    ),
    code(
        """
        waits = pd.DataFrame(simulation.review_waits(runner))
        fig, axes = plt.subplots(1, len(agents), figsize=(12, 3), sharey=True)
        for ax, name in zip(axes, agents, strict=True):
            ax.hist(waits[waits.agent == name].wait_s / 60, bins=20, color='tab:blue', alpha=0.7)
            figures = report['per_agent'][name]['time_to_review']
            ax.axvline(figures['median_s'] / 60, color='k', label=f"median {figures['median_s'] / 60:.0f} min")
            ax.axvline(figures['p90_s'] / 60, color='tab:red', ls='--', label=f"p90 {figures['p90_s'] / 60:.0f} min")
            ax.set_title(name)
            ax.set_xlabel('minutes from request to decision')
            ax.legend(fontsize=8)
        axes[0].set_ylabel('reviews')
        plt.show()
        """
    ),
    md(
        """
        ### False approvals

        Left: reviews approved against the ground truth (a defect approved unchanged, a wrong action, or a case
        expected to be blocked). Right: the runtime's own `false_approval_rate`, from the incidents those
        approvals caused once their actions ran.
        """
    ),
    code(
        """
        false = result.false_approvals()
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.2))
        errors = [false[a]['reviewer_error'] for a in agents]
        left.bar(agents, errors, label='reviewer error')
        left.bar(agents, [false[a]['expected_block'] for a in agents], bottom=errors, label='expected to be blocked')
        left.set_ylabel('false approvals')
        left.yaxis.get_major_locator().set_params(integer=True)
        left.set_title('False approvals (simulation ground truth)')
        left.legend(fontsize=8)
        right.bar(agents, [report['per_agent'][a]['false_approval_rate'] or 0 for a in agents], color='tab:red')
        right.set_ylabel('share of approved actions executed')
        right.set_title("Runtime's false_approval_rate (incidents)")
        plt.show()
        pd.DataFrame([d for d in result.decisions if d['false_approval']])[
            ['agent', 'case', 'action', 'reviewer', 'decision', 'truth_reason', 'wait_s']]
        """
    ),
    md(
        """
        ### Correction categories and calibration

        Left, the categories reviewers filed with their edits and rejections. Right, the seed's "agent confidence
        calibration": the confidence shown to reviewers against how often they approved the proposal unchanged
        (`metrics.calibration`; labels are bin sizes). Simulated reviewers judge by the ground truth, and defects
        are drawn independently of confidence, so this curve shows the simulation's assumptions, not the agents: calibrating on
        decisions needs a real team's (`hitl calibrate --decisions`). Notebook 03 draws the calibration fitted on
        the scenario sets.
        """
    ),
    code(
        """
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.5))
        categories = sorted({c for a in agents for c in report['per_agent'][a]['correction_categories']})
        start = [0] * len(agents)
        for category in categories:
            counts = [report['per_agent'][a]['correction_categories'].get(category, 0) for a in agents]
            left.barh(agents, counts, left=start, label=category)
            start = [x + n for x, n in zip(start, counts, strict=True)]
        left.set_xlabel('edits and rejections')
        left.set_title('Correction categories')
        left.legend(fontsize=8)
        bins = report['calibration']['bins']
        right.plot([0, 1], [0, 1], color='grey', lw=1)
        right.plot([b['confidence'] for b in bins], [b['approved'] for b in bins], 'o-')
        for b in bins:
            right.annotate(str(b['n']), (b['confidence'], b['approved']), fontsize=7, xytext=(3, -9),
                           textcoords='offset points')
        right.set_xlabel('confidence shown to the reviewer')
        right.set_ylabel('approved unchanged')
        right.set_title(f"Calibration: Brier {report['calibration']['brier']}, ECE {report['calibration']['ece']}")
        plt.show()
        """
    ),
    md(
        """
        ## What the reviewers' traits do

        The same support and ops cases (every other one) with a higher defect rate, each trial on a fresh
        database, changing one trait of the whole team at a time: accuracy drives false approvals, strictness
        drives escalations and questions, latency drives time to review and, past the deadlines (30 minutes
        for ops), expiry.
        """
    ),
    code(
        """
        sample = [c for c in cases if c.dataset in ('support', 'ops')][::2]
        variants = {
            **{f'accuracy {v}': {'accuracy': v} for v in (0.6, 0.8, 0.97)},
            **{f'strictness {v}': {'strictness': v} for v in (0.0, 0.5, 1.0)},
            **{f'latency {v // 60} min': {'latency_median_s': v} for v in (120, 900, 2700)},
        }
        trials = [
            simulation.run_trial(f'sqlite:///{folder}/trial-{i}.db', sample, simulation.team(**traits), label=label,
                                 defect_rate=0.3)
            for i, (label, traits) in enumerate(variants.items())
        ]
        comparison = pd.DataFrame([t.row() for t in trials]).set_index('trial')
        comparison['held_back'] = [
            sum(d['decision'] in ('escalate', 'request_info') for d in t.result.decisions) / len(t.result.decisions)
            for t in trials
        ]
        comparison.round(3)
        """
    ),
    code(
        """
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
        panels = [
            ('accuracy', ['false_approval_share', 'rejection_rate', 'edit_rate']),
            ('strictness', ['held_back', 'escalation_rate', 'approval_rate']),
            ('latency', ['expiry_rate', 'approval_rate']),
        ]
        for ax, (trait, columns) in zip(axes, panels, strict=True):
            part = comparison[comparison.index.str.startswith(trait)]
            for column in columns:
                ax.plot(part.index.str.removeprefix(trait + ' '), part[column], 'o-', label=column)
            ax.set_title(f'team {trait}')
            ax.legend(fontsize=8)
        part = comparison[comparison.index.str.startswith('latency')]
        twin = axes[2].twinx()
        twin.bar(part.index.str.removeprefix('latency '), part['median_review_s'] / 60, alpha=0.2, color='tab:green')
        twin.set_ylabel('median time to review (min, bars)')
        plt.show()
        """
    ),
]


THRESHOLDS = [
    md(
        """
        # 03 · Thresholds

        Besides its rules, a policy routes every proposal by its thresholds: confidence below
        `review_min_confidence` escalates; a proposal runs automatically only with confidence at least
        `auto_min_confidence` and risk at most `auto_max_risk` (and no rule or check asking for a human); the rest
        goes to review. This notebook sweeps the confidence and risk thresholds, plots review load against risky
        actions that run automatically (`false_auto`), draws the reliability diagram of the calibration, and writes
        the chosen thresholds out as policy files that the agents load. Everything runs offline on throwaway
        SQLite files.
        """
    ),
    code(
        """
        import tempfile
        from pathlib import Path

        import matplotlib.pyplot as plt
        import pandas as pd

        from guardrails.calibration import fit, load_calibration
        from hitl_core import metrics
        from hitl_core.settings import Settings
        from hitl_lab import simulation
        from hitl_lab.calibrate import scenario_pairs
        from hitl_runtime.agents import agent_policy
        from hitl_runtime.evaluation import load_scenarios
        from hitl_runtime.runner import Runner

        SCENARIOS = next((Path(f) for f in Settings().scenario_dirs), Path('../tests/scenarios'))
        agents = ['support', 'ops', 'compliance']
        pd.DataFrame({agent: agent_policy(agent).thresholds.model_dump() for agent in agents})
        """
    ),
    md(
        """
        ## The sweep

        Each grid point builds every agent's policy with other thresholds (`simulation.policy_with`: the shipped
        policy through the pydantic model), writes it to a folder of its own, sets the settings' `policy_dir` there and
        runs the cases through `hitl eval`'s `evaluate` on a fresh database. Two variants: the policy's rules as
        shipped, and without its `review` rules, which shows what the thresholds catch on their own.

        Thresholds only matter for cases no rule has already blocked, escalated or turned into a question, so
        the sweep runs the cases expected to run automatically or to be reviewed: every third one of each agent's
        scenario set, to stay within the notebook's time. **Review load**: the share of those cases sent to a
        reviewer. **false_auto**: cases expected to be reviewed that ran automatically. `review_min_confidence`
        stays as shipped: it only decides between review and escalation, a human either way.
        """
    ),
    code(
        """
        sample = {
            agent: [c for c in load_scenarios(SCENARIOS / f'{agent}.jsonl') if c.expected.route in ('auto', 'review')][::3]
            for agent in agents
        }
        rows = simulation.sweep_thresholds(sample, confidences=[0.5, 0.7, 0.9], risks=[0.2, 0.35, 0.6])
        sweep = pd.DataFrame(rows).drop(columns=['false_auto_cases'])
        print({agent: len(cases) for agent, cases in sample.items()}, 'cases,', len(rows), 'evaluations')
        sweep.pivot_table(index=['agent', 'auto_min_confidence', 'auto_max_risk'], columns='variant',
                          values=['review_load', 'false_auto'], aggfunc='first')
        """
    ),
    md(
        """
        ## Choosing

        `simulation.choose_thresholds`: per agent, the grid point with the least review load (with the rules as
        shipped: what reviewers would really get) that is no less safe than the shipped thresholds (false_auto no
        higher in either variant); among equal loads, the one that lets fewer risky cases through with the
        thresholds alone, then the one closest to the shipped thresholds.
        """
    ),
    code(
        """
        chosen = simulation.choose_thresholds(rows)
        pd.DataFrame({
            agent: {
                'shipped': f"{c['shipped']['auto_min_confidence']:g} / {c['shipped']['auto_max_risk']:g}",
                'chosen': f"{c['auto_min_confidence']:g} / {c['auto_max_risk']:g}",
                **{f'{k} {v}': f"{c['shipped_figures'][v][k]} -> {c['chosen_figures'][v][k]}"
                   for v in simulation.VARIANTS for k in ('review_load', 'false_auto')},
            }
            for agent, c in chosen.items()
        })
        """
    ),
    code(
        """
        fig, axes = plt.subplots(1, len(agents), figsize=(13, 3.8), sharey=True)
        for ax, agent in zip(axes, agents, strict=True):
            mine = sweep[sweep.agent == agent]
            for variant, marker in zip(simulation.VARIANTS, ('o', 's'), strict=True):
                part = mine[mine.variant == variant]
                ax.plot(part.review_load, part.false_auto, marker, ms=10 if marker == 'o' else 6, alpha=0.6,
                        label=variant)
            shipped = mine[mine.shipped]
            ax.plot(shipped.review_load, shipped.false_auto, 'o', ms=14, mfc='none', mec='k', label='shipped thresholds')
            pick = mine[(mine.auto_min_confidence == chosen[agent]['auto_min_confidence'])
                        & (mine.auto_max_risk == chosen[agent]['auto_max_risk'])]
            ax.plot(pick.review_load, pick.false_auto, '*', ms=16, color='gold', mec='k', label='chosen')
            ax.set_title(agent)
            ax.set_xlabel('review load (share sent to a reviewer)')
        axes[0].set_ylabel('false_auto (risky cases run automatically)')
        axes[0].legend(fontsize=8)
        fig.suptitle('Review load against risky actions that run automatically, one point per threshold pair')
        plt.show()
        """
    ),
    md(
        """
        The same sweep as maps over the grid: review load with the rules as shipped (top) and false_auto with the
        thresholds alone (bottom).
        """
    ),
    code(
        """
        fig, axes = plt.subplots(2, len(agents), figsize=(13, 6.2))
        for column, agent in enumerate(agents):
            grid = sweep[(sweep.agent == agent) & ~sweep.shipped]
            for row, (variant, value, cmap) in enumerate([('shipped rules', 'review_load', 'Blues'),
                                                          ('thresholds alone', 'false_auto', 'Reds')]):
                table = grid[grid.variant == variant].pivot(index='auto_max_risk', columns='auto_min_confidence',
                                                            values=value)
                ax = axes[row][column]
                ax.imshow(table.values, cmap=cmap, origin='lower', aspect='auto')
                for (i, j), v in pd.DataFrame(table.values).stack().items():
                    ax.text(j, i, f'{v:g}', ha='center', va='center', fontsize=9)
                ax.set_xticks(range(len(table.columns)), [f'{c:g}' for c in table.columns])
                ax.set_yticks(range(len(table.index)), [f'{r:g}' for r in table.index])
                ax.set_title(f'{agent}: {value} ({variant})', fontsize=10)
                ax.set_xlabel('auto_min_confidence')
                ax.set_ylabel('auto_max_risk')
        fig.tight_layout()
        plt.show()
        """
    ),
    md(
        """
        ## Reliability of the calibrated confidence

        The support agent routes on a calibrated confidence (`guardrails/calibration/support.json`, fitted by
        `hitl calibrate` on `support.jsonl`; fitted here on the spot if the file is missing). Each proposal's raw
        confidence is paired with whether its scenario expects it to run automatically; the reliability diagram
        bins those pairs (`metrics.calibration`) before and after calibration, on the set it was fitted on and on
        the held-out set. Marker areas follow the number of proposals in each bin.
        """
    ),
    code(
        """
        pairs = {name: scenario_pairs('support', SCENARIOS / f'{name}.jsonl') for name in ('support', 'support_holdout')}
        calibration = load_calibration('support') or fit('support', pairs['support'])
        fig, (diagram, counts) = plt.subplots(1, 2, figsize=(12, 4.5))
        diagram.plot([0, 1], [0, 1], color='grey', lw=1, label='perfectly calibrated')
        for (name, data), color in zip(pairs.items(), ('tab:blue', 'tab:orange'), strict=True):
            for label, points, style in [('raw', data, '--'),
                                         ('calibrated', [(calibration.apply(x), y) for x, y in data], '-')]:
                figures = metrics.calibration(points)
                xs, ys = [b['confidence'] for b in figures['bins']], [b['approved'] for b in figures['bins']]
                diagram.plot(xs, ys, style, color=color, label=f"{name}, {label}: Brier {figures['brier']}, ECE {figures['ece']}")
                diagram.scatter(xs, ys, s=[12 * b['n'] for b in figures['bins']], color=color,
                                marker='o' if label == 'raw' else 's', alpha=0.6)
            counts.hist([x for x, _ in data], bins=10, range=(0, 1), alpha=0.5, color=color, label=f'{name} raw')
            counts.hist([calibration.apply(x) for x, _ in data], bins=10, range=(0, 1), histtype='step', color=color,
                        lw=2, label=f'{name} calibrated')
        diagram.set_xlabel('confidence')
        diagram.set_ylabel('share expected to run automatically')
        diagram.set_title(f'Reliability diagram ({calibration.method})')
        diagram.legend(fontsize=7)
        counts.set_xlabel('confidence')
        counts.set_ylabel('proposals')
        counts.legend(fontsize=8)
        plt.show()
        """
    ),
    md(
        """
        ## Writing the chosen thresholds

        `simulation.write_policies` writes a complete policy folder (the shipped files, with each agent's policy
        rebuilt with its chosen thresholds) in a temporary folder; a runner whose settings' `policy_dir` is that
        folder (`HITL_POLICY_DIR` for the command line and the app) loads them.
        """
    ),
    code(
        """
        chosen_dir = Path(tempfile.mkdtemp(prefix='hitl-policies-'))
        policies = [
            simulation.policy_with(agent, auto_min_confidence=chosen[agent]['auto_min_confidence'],
                                   auto_max_risk=chosen[agent]['auto_max_risk'])
            for agent in agents
        ]
        simulation.write_policies(chosen_dir, policies)
        print(*(chosen_dir / 'support.yaml').read_text().splitlines()[:10], '...', sep='\\n')
        """
    ),
    code(
        """
        runner = Runner(Settings(database_url=f'sqlite:///{chosen_dir}/check.db', policy_dir=str(chosen_dir)))
        print(pd.DataFrame({agent: runner.policy(agent).thresholds.model_dump() for agent in agents}), '\\n')
        check = [(case, runner.run('support', case.message, user='requester', context=case.context))
                 for case in sample['support']]
        pd.DataFrame([
            {'case': case.id, 'expected': case.expected.route, 'route': result.route, 'risk': result.risk,
             'threshold reasons': '; '.join(r for r in result.reasons if r.startswith(('risk ', 'confidence ')))}
            for case, result in check
        ])
        """
    ),
]


OWN_AGENT = [
    md(
        """
        # 04 · Your own agent behind the gate

        Two agents that are not built from the project's shared flow, run by the same runtime: a
        hand-written `StateGraph` whose node calls `request_approval` where it would call `interrupt()`
        (`examples/travel_desk.py`), and a LangChain `create_agent` agent gated by the `GovernedActions`
        middleware (`examples/purchasing_agent.py`). Each brings its action (JSON Schema, executor, undo)
        and a policy file with roles of its own; reviews, audit, the ledger, leases and the decision checks
        come from the runtime. Everything runs offline on a temporary SQLite file.
        """
    ),
    code(
        """
        import json
        import tempfile
        from pathlib import Path

        import pandas as pd

        from examples import purchasing_agent, travel_desk
        from hitl_core import ledger, reviews
        from hitl_core.errors import HitlError
        from hitl_core.settings import Settings
        from hitl_core.users import add_user
        from hitl_runtime.agents import register_agent
        from hitl_runtime.runner import Runner

        register_agent('travel', travel_desk)  # what HITL_AGENTS=examples.travel_desk does for the CLI and the app
        register_agent('purchasing', purchasing_agent)
        folder = Path(tempfile.mkdtemp(prefix='hitl-own-'))
        runner = Runner(Settings(database_url=f'sqlite:///{folder}/own.db'))
        for name, roles in {'eve': ['end_user'], 'tom': ['travel_manager'], 'bea': ['buyer']}.items():
            add_user(runner.db, name, roles)
        """
    ),
    md("## A hand-written graph: `request_approval` opens a review like the shared gate"),
    code(
        """
        trip = runner.run('travel', 'Book my trip to Lisbon for the partner meeting', user='eve',
                          context={'traveller': 'eve', 'destination': 'Lisbon', 'cost': 900})
        (trip_review,) = trip.reviews
        shown = runner.show(trip_review)['interrupt']
        print(trip.status, trip.route)
        print(json.dumps({k: shown[k] for k in ('action_requests', 'review_configs')}, indent=2)[:1200])
        """
    ),
    md(
        "The requester may not approve their own request; a travel manager may, and the trip is booked once, through the ledger."
    ),
    code(
        """
        try:
            runner.decide(trip_review, 'approve', 'eve')
        except HitlError as refused:
            print('refused:', refused)
        decided = runner.decide(trip_review, 'approve', 'tom', seen_hash=runner.seen_hash(trip_review))
        print(decided['status'], '->', decided['thread']['reply'])
        pd.DataFrame(ledger.list_entries(runner.db, thread_id=trip.thread_id))[['name', 'status', 'args', 'review_id']]
        """
    ),
    md("## A `create_agent` agent: the middleware turns each tool call into a review"),
    code(
        """
        order = runner.run('purchasing', 'Order a standing desk from Acme for 650', user='eve')
        (order_review,) = order.reviews
        print(order.status, reviews.get(runner.db, order_review)['action'])
        rejected = runner.decide(order_review, 'reject', 'bea', comment='We have spare desks in storage')
        print(rejected['status'], '->', rejected['thread']['reply'])
        print('executed:', ledger.list_entries(runner.db, thread_id=order.thread_id))
        """
    ),
]


NOTEBOOKS = {
    "01_tour.ipynb": TOUR,
    "02_reviewers_at_scale.ipynb": REVIEWERS,
    "03_thresholds.ipynb": THRESHOLDS,
    "04_your_own_agent.ipynb": OWN_AGENT,
}


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for file_name, cells in NOTEBOOKS.items():
        write(file_name, cells, target)
