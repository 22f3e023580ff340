"""The file-system broker (kombu's transport, for a machine with nothing installed), with its folders' errors taken
for what they are: the broker cannot be reached for a moment. kombu's own transport lets an OSError from a folder
(one unreadable, or gone, for a few seconds) through as an error Celery cannot recover from, and the worker exits
for good ("Unrecoverable error: PermissionError"). As a connection error, Celery's consumer reconnects by its retry
policy and carries on; a message it could not take stays in the folder for the next try."""
from __future__ import annotations

from kombu.transport import filesystem


class FilesystemTransport(filesystem.Transport):
    connection_errors = (*filesystem.Transport.connection_errors, OSError)
