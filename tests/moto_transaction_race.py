#!/usr/bin/env python3
"""Shows why the soak on DynamoDB + SQS fails on moto (README "Soak"): on moto's threaded
server, a TransactWriteItems that is cancelled (a condition failed) puts back a copy of the
table taken before it started, so writes other threads made meanwhile, already acknowledged,
are gone. Real DynamoDB does not do that.

    .venv/bin/python tests/moto_transaction_race.py .venv/bin/moto_server

Prints how many acknowledged writes are missing afterwards (more than 0 shows the race).
"""
import subprocess, socket, time, threading, sys
import boto3, botocore
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
moto = subprocess.Popen([sys.argv[1], "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
url = f"http://127.0.0.1:{port}"
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", port)).close(); break
    except OSError: time.sleep(0.1)
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
db = boto3.client("dynamodb", **kw)
db.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
db.put_item(TableName="t", Item={"pk": {"S": "fixed"}, "state": {"S": "running"}})
written, stop = [], False
def writer():
    c = boto3.client("dynamodb", **kw)
    i = 0
    while not stop:
        key = f"w-{i}"; i += 1
        c.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": {"pk": {"S": key}},
                                                         "ConditionExpression": "attribute_not_exists(pk)"}}])
        written.append(key)
def canceller():
    c = boto3.client("dynamodb", **kw)
    while not stop:
        try:
            c.transact_write_items(TransactItems=[
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "c"}}}},
                {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "fixed"}},
                                    "ConditionExpression": "#s = :q", "ExpressionAttributeNames": {"#s": "state"},
                                    "ExpressionAttributeValues": {":q": {"S": "queued"}}}}])
        except botocore.exceptions.ClientError:
            pass
threads = [threading.Thread(target=writer), threading.Thread(target=canceller), threading.Thread(target=canceller)]
for t in threads: t.start()
time.sleep(20); stop = True
for t in threads: t.join()
lost = [k for k in written if "Item" not in db.get_item(TableName="t", Key={"pk": {"S": k}})]
print(f"writes acknowledged: {len(written)}, missing afterwards: {len(lost)} {lost[:5]}")
moto.kill()
