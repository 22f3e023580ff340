"""What an uploaded data file must be before a byte of it is stored: uncompressed UTF-8 text within the upload
limits, or for the binary format (npz) a zip archive whose arrays unpack within them. Each problem is a 400 that
names the file field, and the setting or the line where it has one."""
from __future__ import annotations

import codecs
import hashlib
import logging
import re
import zipfile

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import SuspiciousOperation
from django.core.files import File
from django.core.files.uploadhandler import FileUploadHandler
from django.db.models.fields.files import FieldFile

from apps.datasets.models import Dataset
from rnnservice.errors import LimitExceeded, ServiceError

logger = logging.getLogger(__name__)
# The first bytes of compressed files. Uploads are read as they are, never unpacked (no archive bombs): a
# compressed file gets a message that says so rather than one about its bytes.
COMPRESSED = {re.compile(rb"\x1f\x8b"): "gzip", re.compile(rb"PK\x03\x04"): "zip",
              re.compile(rb"BZh[1-9]1AY&SY"): "bzip2", re.compile(rb"\xfd7zXZ\x00"): "xz",
              re.compile(rb"\x28\xb5\x2f\xfd"): "zstd", re.compile(rb"7z\xbc\xaf\x27\x1c"): "7z"}


class UploadTooLarge(LimitExceeded, SuspiciousOperation):
    """A file of a multipart request that passed RNNSERVICE_MAX_UPLOAD_BYTES while it was being received. Through
    DRF, a ServiceError: the API's 400 naming the limit and the field; elsewhere (the admin's form), Django's 400
    for a SuspiciousOperation, not a 500."""

    def __init__(self, field: str, maximum: int):
        ServiceError.__init__(self, f"the {field} file is larger than {maximum:,} bytes, the limit "
                                    "(RNNSERVICE_MAX_UPLOAD_BYTES); the upload was stopped there", field=field,
                              limit="RNNSERVICE_MAX_UPLOAD_BYTES", maximum=maximum)


class UploadLimitHandler(FileUploadHandler):
    """FILE_UPLOAD_HANDLERS' first: counts each file's bytes as they arrive and stops the request at the first
    that passes RNNSERVICE_MAX_UPLOAD_BYTES, so that an over-size upload is refused then, not once the whole body
    was received and written to a temporary file. The handlers after it store the bytes."""

    def new_file(self, field_name: str, *args, **kwargs) -> None:
        super().new_file(field_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.RNNSERVICE_MAX_UPLOAD_BYTES:
            logger.warning("upload of %s stopped after %s bytes (RNNSERVICE_MAX_UPLOAD_BYTES)", self.field_name,
                           self.received)
            raise UploadTooLarge(self.field_name, settings.RNNSERVICE_MAX_UPLOAD_BYTES)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None                      # the next handler's file


def upload_sha256(field: str, upload: File, *, archive: bool = False) -> str:
    """The file's sha256, read once in chunks. Raises LimitExceeded over RNNSERVICE_MAX_UPLOAD_BYTES, _LINES or
    _LINE_CHARS, and ServiceError for a compressed file, a NUL byte (a binary file) or bytes that are not UTF-8.
    An `archive` (format npz) is not text: it must be a zip file whose members unpack within
    RNNSERVICE_MAX_UPLOAD_BYTES; its contents are the parser's to check."""
    maximum = settings.RNNSERVICE_MAX_UPLOAD_BYTES
    if upload.size > maximum:
        raise LimitExceeded("RNNSERVICE_MAX_UPLOAD_BYTES", upload.size, maximum,
                            what=f"the {field} file's size in bytes", field=field)
    if not upload.size:           # here, not in the serializer: the API and import_dataset say it alike
        raise ServiceError(f"the {field} file is empty", field=field)
    if archive:
        _check_archive(field, upload)
    digest, text = hashlib.sha256(), None if archive else _TextScan(field)
    for chunk in upload.chunks():
        digest.update(chunk)
        if text is not None:
            text.feed(chunk)
    if text is not None:
        text.finish()
    return digest.hexdigest()


def _check_archive(field: str, upload: File) -> None:
    """A small archive must not unpack into gigabytes (np.load reads each array in full): the sizes its members
    record are bounded like a file's size. They cannot lie, as zipfile reads a member no further than that size."""
    try:
        upload.seek(0)
        with zipfile.ZipFile(upload) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise ServiceError(f"the {field} file is not a NumPy .npz archive (a zip file of arrays); save one with "
                           "np.savez(path, X=..., y=...)", field=field) from None
    maximum = settings.RNNSERVICE_MAX_UPLOAD_BYTES
    if unpacked > maximum:
        raise LimitExceeded("RNNSERVICE_MAX_UPLOAD_BYTES", unpacked, maximum,
                            what=f"the {field} archive's size in bytes once unpacked", field=field)


def check_stored_bytes(owner: AbstractBaseUser, uploads: dict[str, File]) -> None:
    """The owner's stored data set files and these uploads together within DATASET_MAX_BYTES_PER_USER. The sizes
    are the storage's (a stat on a disk, a HEAD in a bucket), so the count is right however the files came."""
    stored = sum(_size(file) for dataset in Dataset.objects.filter(owner=owner) for file in dataset.files().values())
    total, maximum = stored + sum(upload.size for upload in uploads.values()), settings.DATASET_MAX_BYTES_PER_USER
    if total > maximum:
        raise LimitExceeded("DATASET_MAX_BYTES_PER_USER", total, maximum,
                            what="the bytes of your stored data sets, with this upload", stored=stored)


def _size(stored: FieldFile) -> int:
    """A stored file's size; 0 for one the storage cannot find or size (a disk or bucket fault): the quota must not
    turn that into refused uploads, and the fault is logged."""
    try:
        return stored.size
    except Exception:
        logger.warning("the size of %s cannot be read; counted as 0 against DATASET_MAX_BYTES_PER_USER", stored.name,
                       exc_info=True)
        return 0


class _TextScan:
    """Follows a file chunk by chunk: it must decode as UTF-8 with no NUL byte, within the line limits."""

    def __init__(self, field: str):
        self.field = field
        self.pending = b""      # the start of a character cut by the chunk's end
        self.lines = 0          # line ends so far
        self.line_chars = 0     # characters of the line being read
        self.started = False

    def feed(self, chunk: bytes, final: bool = False) -> None:
        data = self.pending + chunk
        if not self.started and data:
            self.started = True
            self._refuse_compressed(data)
        try:
            text, used = codecs.utf_8_decode(data, "strict", final)
        except UnicodeDecodeError as exc:
            line = self.lines + data.count(b"\n", 0, exc.start) + 1
            raise ServiceError(f"the {self.field} file is not UTF-8 text: byte 0x{data[exc.start]:02x} on line "
                               f"{line}; save it as UTF-8", field=self.field, line=line) from None
        self.pending = data[used:]
        self._count(text)

    def finish(self) -> None:
        self.feed(b"", final=True)
        lines = self.lines + (self.line_chars > 0)          # a last line without a line end
        maximum = settings.RNNSERVICE_MAX_UPLOAD_LINES
        if lines > maximum:
            raise LimitExceeded("RNNSERVICE_MAX_UPLOAD_LINES", lines, maximum,
                                what=f"the {self.field} file's number of lines", field=self.field)

    def _count(self, text: str) -> None:
        if "\x00" in text:
            line = self.lines + text.count("\n", 0, text.index("\x00")) + 1
            raise ServiceError(f"the {self.field} file holds a NUL byte on line {line}: it is binary, not text",
                               field=self.field, line=line)
        parts = text.split("\n")                            # the first continues a line, the last is unfinished
        lengths = [len(part) for part in parts]
        lengths[0] += self.line_chars
        maximum = settings.RNNSERVICE_MAX_UPLOAD_LINE_CHARS
        if max(lengths) > maximum:
            index = next(index for index, length in enumerate(lengths) if length > maximum)
            line = self.lines + index + 1
            raise LimitExceeded("RNNSERVICE_MAX_UPLOAD_LINE_CHARS", lengths[index], maximum,
                                what=f"the number of characters on line {line} of the {self.field} file",
                                field=self.field, line=line)
        self.lines += len(parts) - 1
        self.line_chars = lengths[-1]

    def _refuse_compressed(self, head: bytes) -> None:
        for magic, kind in COMPRESSED.items():
            if magic.match(head):
                hint = " (a NumPy .npz archive is read as format npz: name the file .npz or give that format)" \
                    if kind == "zip" else ""
                raise ServiceError(f"the {self.field} file is {kind}-compressed; compressed uploads are not accepted: "
                                   f"upload the file itself{hint}", field=self.field)
