"""The ledger writer's batch histograms since the server started, one line each.

    python3 bench/writer_stats.py BASE_URL ADMIN_TOKEN   (GraphQL `ledgerWriter`; admins and auditors)
"""
import json
import sys
import urllib.request

base, token = sys.argv[1], sys.argv[2]
query = (
    "{ ledgerWriter { failedBatches queueWaitMs { ...h } sealMs { ...h } writeMs { ...h } "
    "commitMs { ...h } batchEntries { ...h } } } "
    "fragment h on Histogram { count sum p50Bound p99Bound buckets { le count } }"
)
request = urllib.request.Request(
    base + "/graphql",
    data=json.dumps({"query": query}).encode(),
    headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
)
stats = json.load(urllib.request.urlopen(request))["data"]["ledgerWriter"]
for name in ["queueWaitMs", "sealMs", "writeMs", "commitMs", "batchEntries"]:
    h = stats[name]
    mean = h["sum"] / h["count"] if h["count"] else 0
    used = [b["le"] for b in h["buckets"] if b["count"]]
    print(f"  writer {name}: {h['count']} batches, mean {mean:.2f}, p50 <= {h['p50Bound']}, "
          f"p99 <= {h['p99Bound']}, largest bucket used <= {used[-1] if used else None}")
    if name in ("queueWaitMs", "writeMs", "commitMs"):
        print("    batches by bucket: " + ", ".join(f"<= {b['le']}: {b['count']}" for b in h["buckets"] if b["count"]))
print(f"  writer failed batches: {stats['failedBatches']}")
