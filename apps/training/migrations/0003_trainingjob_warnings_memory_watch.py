# A job's warnings (issue 14, items 4 and 5) and the OOM kill count its latest attempt started with (issue 15).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('training', '0002_trainingjob_sent_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='trainingjob',
            name='warnings',
            field=models.JSONField(blank=True, default=list, help_text="What the owner should know, one sentence each: a dev split too small or missing labels (at launch), a version whose labels differ from an alias's (at registration)."),
        ),
        migrations.AddField(
            model_name='trainingjob',
            name='memory_watch',
            field=models.JSONField(blank=True, default=dict, help_text='The machine and its count of OOM kills when the latest attempt started (apps/training/oom.py); empty when it cannot be read.'),
        ),
    ]
