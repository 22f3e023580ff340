"""Each version records its signature (task, input kind, labels), filled in for the versions already registered
from what their config.json recorded (ModelVersion.info)."""
from django.db import migrations, models


def fill_signatures(apps, schema_editor):
    from apps.registry.signatures import signature_of

    ModelVersion = apps.get_model("registry", "ModelVersion")
    for version in ModelVersion.objects.select_related("model").iterator():
        version.signature = signature_of(task=version.model.task, info=version.info or {})
        version.save(update_fields=["signature"])


class Migration(migrations.Migration):

    dependencies = [
        ("registry", "0002_task_choices_from_the_task_registry"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="signature",
            field=models.JSONField(blank=True, default=dict,
                                   help_text="What callers depend on: task, input kind, labels (None: open outputs). "
                                             "apps/registry/signatures.py."),
        ),
        migrations.RunPython(fill_signatures, migrations.RunPython.noop),
    ]
