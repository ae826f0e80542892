"""Loaded by the moto server the tests start (its PYTHONPATH names this folder).

moto's DynamoDB is not safe across its request threads: a transaction deep-copies each
table it touches (to restore it if a condition fails) while other threads write to it,
which fails ("dictionary changed size during iteration", a 500) or, when the transaction
is rolled back, undoes the other threads' writes. DynamoDB runs each call atomically and in
isolation; here every call into moto's DynamoDB backend holds one lock, so the ledger's
concurrency tests see DynamoDB's behaviour rather than moto's races. Only DynamoDB: SQS's
long polls must not wait behind one another.
"""

import functools
import threading

try:
    from moto.dynamodb.models import DynamoDBBackend
except Exception:  # moto missing or moved: the server itself says so
    DynamoDBBackend = None


def _serialized(method, lock):
    @functools.wraps(method)
    def call(*args, **kwargs):
        with lock:
            return method(*args, **kwargs)

    return call


if DynamoDBBackend is not None:
    _lock = threading.RLock()
    for _name, _value in list(vars(DynamoDBBackend).items()):
        if callable(_value) and not _name.startswith("_"):
            setattr(DynamoDBBackend, _name, _serialized(_value, _lock))
