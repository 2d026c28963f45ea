"""Sequence classification as a bertkit task (registered in bertkit/tasks.py)."""

from bertkit.taskspec import TaskSpec

SPEC = TaskSpec(
    name="classify",
    help="Sequence classification: binary, multi-class, multi-label.",
    settings_ref="bertkit.classify.settings:ClassifyConfig",
    train_ref="bertkit.classify.train:train",
    predictor_ref="bertkit.classify.predict:Classifier",
    api_name="Classifier",
    cli_ref="bertkit.classify.cli:app",
    report_ref="bertkit.classify.report:sections",
    extra_metrics_ref="bertkit.classify.metric_adapter:classify_extra",
    auto_class="AutoModelForSequenceClassification",
    arch_suffixes=("ForSequenceClassification",),
    outputs={"logits": {0: "batch"}},
    serve_ref="bertkit.classify.serve:ADAPTER",
    gate_ref="bertkit.classify.gate:measure",
    noun="a classifier",
    use_hint="use `bertkit classify predict`",
    train_noun="a classifier",
    untrained_head="classification head",
)
