"""Request and response shapes of the prediction and evaluation API."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.registry.serializers import AliasNameField
from apps.serving.services import EVALUATE_SPLITS
from rnnservice.api import MAX_ID, MAX_VERSION, StrictInput
from rnnservice.schema import ref, typed

_VERSION_HELP = "A version number; else `alias`; else the `production` alias; else the newest version."
_OPTIONS_HELP = ("Translation only: beam_size, n_best, max_length, length_penalty, length_cap. "
                 "Other tasks take none.")


class VersionChoiceInput(StrictInput):
    """Which version answers (version, else alias, else production, else newest) and its decoding options."""
    version = serializers.IntegerField(required=False, min_value=1, max_value=MAX_VERSION,
                                       help_text=_VERSION_HELP)
    alias = AliasNameField(required=False, max_length=100, help_text="Else this alias's version.")
    options = serializers.DictField(required=False, default=dict, help_text=_OPTIONS_HELP)


@extend_schema_field(ref("PredictInputItem"))
class PredictItemField(serializers.JSONField):
    """One input. Its shape is checked by the model's Predictor, whose message names the input's index and what
    the model takes (its feature count, a finite number where a value is not one)."""

    def to_internal_value(self, data: Any) -> Any:
        # Taken as parsed. JSONField's own check (json.dumps, strict) would refuse a number that overflowed to
        # inf (1e999) as "not valid JSON" without saying where; the Predictor names the input, frame and feature.
        return data


class PredictInput(VersionChoiceInput):
    inputs = serializers.ListField(child=PredictItemField(), min_length=1, help_text=(
        'Each a string (split by the model\'s tokenizer), {"tokens": [...]}, or for a model of numeric series '
        '{"values": [[f1, ..., fF], ...]} (a flat list of numbers for one feature).'))


class PredictOutput(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField(help_text="The version that answered.")
    outputs = serializers.ListField(child=serializers.DictField(), help_text=(
        'One per input. Tagging {"tokens", "tags", "scores"} (series: {"tags", "scores"}, one per frame); '
        'classification {"label", "probabilities"}; translation {"translation", "tokens", "score"} (+ "n_best" '
        'when options.n_best > 1).'))


class EvaluateInput(VersionChoiceInput):
    dataset = serializers.IntegerField(min_value=1, max_value=MAX_ID,
                                       help_text="A valid dataset of yours, of the model's task.")
    split = serializers.ChoiceField(choices=EVALUATE_SPLITS, default="test",
                                    help_text="test falls back to dev when the dataset has no test file.")


class EvaluateOutput(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField()
    dataset = serializers.IntegerField()
    split = serializers.ChoiceField(choices=EVALUATE_SPLITS, help_text="The split that was scored.")
    examples = serializers.IntegerField()
    metrics = typed(serializers.DictField, ref("Metrics"), help_text=(
        "accuracy and macro_f1 (+ entity_f1 for BIO tags); translation: bleu and chrf."))
