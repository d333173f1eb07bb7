# The moto server as the project runs it (see MOTO in local.rs): one request at a time, and a
# cancelled TransactWriteItems rolled back as DynamoDB does it, cheaply. This file is passed to
# Python with -c inside single quotes: it must not contain one.
import copy
import sys

import moto.dynamodb.models as models
import moto.server as server
from moto.dynamodb.models.table import Table


class TablesCopiedOnce:
    """The copy module for one transaction: moto copies each table it touches to roll back to,
    once per item; here once per table, and without the stream records a copy never needs."""

    def __init__(self):
        self.tables = {}

    def deepcopy(self, value, memo=None):
        if not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        if id(value) not in self.tables:
            shard, value.stream_shard = value.stream_shard, None
            try:
                self.tables[id(value)] = copy.deepcopy(value)
            finally:
                value.stream_shard = shard
        return self.tables[id(value)]


transact = models.DynamoDBBackend.transact_write_items


def transact_rolled_back_in_place(self, *args, **kwargs):
    """A cancelled transaction leaves the tables as they were, the same objects: moto puts its
    copy in their place, so a stream reader would go on reading the old table records that never
    happened, and miss every later one. The copy state goes back into the live table, and the
    records the cancelled writes added are dropped."""
    live = dict(self.tables)
    streamed = {name: len(t.stream_shard.items) for name, t in live.items() if t.stream_shard is not None}
    models.copy = TablesCopiedOnce()
    try:
        return transact(self, *args, **kwargs)
    except Exception:
        for name, table in live.items():
            restored = self.tables.get(name)
            if restored is not None and restored is not table:
                shard = table.stream_shard
                table.__dict__.update(restored.__dict__)
                table.stream_shard = shard
                if shard is not None:
                    del shard.items[streamed[name]:]
                self.tables[name] = table
        raise
    finally:
        models.copy = copy


models.DynamoDBBackend.transact_write_items = transact_rolled_back_in_place

run = server.run_simple
server.run_simple = lambda *a, **k: run(*a, **{**k, "threaded": False})
server.main(sys.argv[1:])
