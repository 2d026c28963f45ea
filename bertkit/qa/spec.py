"""Extractive question answering as a bertkit task (registered in bertkit/tasks.py)."""

from bertkit.taskspec import TaskSpec

SPEC = TaskSpec(
    name="qa",
    help="Extractive question answering: train, eval, ask (SQuAD v1.1/v2.0).",
    settings_ref="bertkit.qa.settings:QAConfig",
    train_ref="bertkit.qa.train:train",
    predictor_ref="bertkit.qa.api:QA",
    api_name="QA",
    cli_ref="bertkit.qa.cli:app",
    report_ref="bertkit.qa.report:sections",
    extra_metrics_ref="bertkit.qa.metric_adapter:qa_results",
    auto_class="AutoModelForQuestionAnswering",
    arch_suffixes=("ForQuestionAnswering",),
    outputs={"start_logits": {0: "batch", 1: "sequence"}, "end_logits": {0: "batch", 1: "sequence"}},
    serve_ref="bertkit.qa.serve:ADAPTER",
    gate_ref="bertkit.qa.gate:measure",
    noun="a question-answering model",
    use_hint="use `bertkit qa ask` / `bertkit qa eval`",
    train_noun="a QA model",
    pad={"start_positions": 0, "end_positions": 0},
)
